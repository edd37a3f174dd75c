import BLAS

/// Element-wise helpers of the step loops over the rows of a step, in plain Swift. The cells'
/// math is in C for Float (FloatCellStep: the tanh cell fused into the product, the gated cells
/// in cells_body.h) and in the tests' Double reference (Tests/RNNReference).
package enum CellKernels {
    // MARK: - Helpers of the step loops

    /// m[r, :] += bias for each of `rows` rows of width `columns`.
    static func addRowBias<T: BLASScalar>(_ m: UnsafeMutablePointer<T>, bias: UnsafePointer<T>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = m + r * columns
            for j in 0..<columns { row[j] += bias[j] }
        }
    }

    /// out[k] = a[k] ⊙ b[k] (dropout: masks are 0 or 1/(1−p)).
    static func multiply<T: BLASScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, into out: UnsafeMutablePointer<T>, count: Int) {
        for k in 0..<count { out[k] = a[k] * b[k] }
    }

    /// a[k] += b[k].
    package static func add<T: BLASScalar>(_ b: UnsafePointer<T>, into a: UnsafeMutablePointer<T>, count: Int) {
        for k in 0..<count { a[k] += b[k] }
    }

    /// out[r] = ‖row r‖ for rows of width H.
    package static func rowNorms<T: BLASScalar>(_ m: UnsafePointer<T>, rows: Int, H: Int, into out: UnsafeMutablePointer<Double>) {
        for r in 0..<rows {
            var s = 0.0
            for j in 0..<H { let v = Double(m[r * H + j]); s += v * v }
            out[r] = s.squareRoot()
        }
    }
}
