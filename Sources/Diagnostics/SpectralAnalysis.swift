import BLAS
import Buffers
import RNN
#if canImport(Glibc)
import Glibc
#endif

/// Spectral diagnostics of the recurrence (docs/design.md §2): the spectral radius and largest
/// singular value of W_hh, and the norms of the backward Jacobians W_hh^T diag(1 − h_k²)
/// whose products decide whether ‖dh_t‖ vanishes or explodes with the distance from the loss.
/// All arithmetic is in Double, whatever the scalar type of the parameters.
public enum SpectralAnalysis {
    /// The spectral radius max |λ| of the n×n row-major matrix at `offset` in `matrix`.
    ///
    /// Why this method: plain power iteration converges only when one real eigenvalue
    /// dominates; for a complex pair r·e^{±iθ} or for ±r, the iterate keeps rotating or
    /// flipping inside the dominant 2-D invariant subspace and the Rayleigh quotient
    /// oscillates. So this runs orthogonal (subspace) iteration on two vectors: the span
    /// converges to that 2-D subspace (at rate |λ₃/λ₂|), and the eigenvalues of the 2×2
    /// projection QᵀAQ (Rayleigh–Ritz, quadratic formula) give the dominant pair exactly,
    /// real or complex. When three or more eigenvalues share the top modulus (e.g. a scaled
    /// permutation or orthogonal matrix) no 2-D subspace is invariant and the Ritz residual
    /// stays large; then the answer is the growth rate of the first vector (plain power
    /// iteration with renormalisation), exp(mean of log ‖A q‖) over the second half of the
    /// iterations, which does not need the iterate to converge: once the transient has
    /// decayed, ‖A^k x‖ = ρ^k·O(1), exactly ρ^k·const for a normal matrix.
    public static func spectralRadius<T: BLASScalar>(of matrix: Buffer<T>, offset: Int = 0, size n: Int,
                                                     iterations: Int = 500, seed: UInt64 = 1) -> Double {
        precondition(iterations >= 2, "spectralRadius needs at least 2 iterations, got \(iterations)")
        let a = squareMatrix(matrix, offset: offset, size: n)
        if n == 1 { return abs(a[0]) }
        var generator = SeededGenerator(seed: seed)
        let q = Buffer<Double>(count: 2 * n, repeating: 0)   // rows q₁, q₂ (orthonormal)
        let z = Buffer<Double>(count: 2 * n, repeating: 0)   // rows A q₁, A q₂
        for i in 0..<2 * n { q[i] = generator.nextGaussian() }
        normalize(q, row: 0, n: n)
        orthonormalizeSecondRow(q, n: n, generator: &generator)

        var logGrowth = 0.0, counted = 0
        for k in 0..<iterations {
            // Z = Q·Aᵀ: row j of Z is A q_j.
            BLAS.gemm(.none, .transposed, m: 2, n: n, k: n, a: q, b: a, c: z)
            let r11 = rowNorm(z, row: 0, n: n)
            guard r11.isFinite else { return .infinity }
            guard r11 > 0 else { return 0 }   // A^k x = 0 for a random x: A is nilpotent
            if k >= iterations / 2 {
                logGrowth += log(r11)
                counted += 1
            }
            q.baseAddress.update(from: z.baseAddress, count: 2 * n)
            normalize(q, row: 0, n: n)
            orthonormalizeSecondRow(q, n: n, generator: &generator)
        }
        let growthRate = exp(logGrowth / Double(counted))

        // Rayleigh–Ritz on span(q₁, q₂): M_ij = q_i·(A q_j), residual ‖A Q − Q M‖ / ‖M‖.
        BLAS.gemm(.none, .transposed, m: 2, n: n, k: n, a: q, b: a, c: z)
        var m = [[0.0, 0.0], [0.0, 0.0]]
        for i in 0..<2 { for j in 0..<2 { m[i][j] = dot(q, row: i, z, row: j, n: n) } }
        var residual = 0.0
        for j in 0..<2 {
            for e in 0..<n {
                let r = z[j * n + e] - m[0][j] * q[e] - m[1][j] * q[n + e]
                residual += r * r
            }
        }
        let scale = (m[0][0] * m[0][0] + m[0][1] * m[0][1] + m[1][0] * m[1][0] + m[1][1] * m[1][1]).squareRoot()
        guard scale > 0, residual.squareRoot() <= 1e-7 * scale else { return growthRate }
        let halfTrace = (m[0][0] + m[1][1]) / 2
        let determinant = m[0][0] * m[1][1] - m[0][1] * m[1][0]
        let discriminant = halfTrace * halfTrace - determinant
        if discriminant >= 0 {
            let root = discriminant.squareRoot()
            return max(abs(halfTrace + root), abs(halfTrace - root))
        }
        return determinant.squareRoot()   // complex pair: |λ|² = λ·λ̄ = det M
    }

    /// The largest singular value ‖A‖₂ of the n×n row-major matrix at `offset`, by power
    /// iteration on AᵀA; the result is ‖A v‖ for the final unit vector v (a lower bound that
    /// converges quadratically in the angle to the top right singular vector).
    public static func largestSingularValue<T: BLASScalar>(of matrix: Buffer<T>, offset: Int = 0, size n: Int,
                                                           iterations: Int = 500, seed: UInt64 = 1) -> Double {
        precondition(iterations >= 1, "largestSingularValue needs at least 1 iteration, got \(iterations)")
        let a = squareMatrix(matrix, offset: offset, size: n)
        var generator = SeededGenerator(seed: seed)
        let v = Buffer<Double>(count: n, repeating: 0)
        let w = Buffer<Double>(count: n, repeating: 0)
        for i in 0..<n { v[i] = generator.nextGaussian() }
        normalize(v, row: 0, n: n)
        for _ in 0..<iterations {
            BLAS.gemm(.none, .transposed, m: 1, n: n, k: n, a: v, b: a, c: w)   // w = A v
            BLAS.gemm(.none, .none, m: 1, n: n, k: n, a: w, b: a, c: v)         // v = Aᵀ w
            let norm = rowNorm(v, row: 0, n: n)
            guard norm.isFinite else { return .infinity }
            guard norm > 0 else { return 0 }
            normalize(v, row: 0, n: n)
        }
        BLAS.gemm(.none, .transposed, m: 1, n: n, k: n, a: v, b: a, c: w)
        return rowNorm(w, row: 0, n: n)
    }

    /// The mean over sequences and window start positions of log ∏_{k in window} ‖J_k‖₂,
    /// with J_k = W_hhᵀ diag(1 − h_k²) the Jacobian ∂h_{k−1}-gradient/∂h_k-gradient of the
    /// backward pass (dh_{k−1} ⊇ J_k dh_k). hiddenStates: [sequence][step][H] as returned by
    /// `StackedBPTTWorkspace.hiddenStates(layer:)`; each sequence of length L contributes
    /// L − window + 1 windows of consecutive steps. `factorNorm` chooses the exact spectral norm of each
    /// factor (power iteration, batched over all steps) or the cheap upper bound
    /// ‖W_hh‖₂·max_i(1 − h_{k,i}²).
    public static func jacobianProductNorms<T: BLASScalar>(
        parameters: Buffer<T>, layout: ModelLayout, hiddenStates: [[[Double]]], window: Int,
        factorNorm: JacobianProductStatistics.FactorNorm = .spectral(iterations: 30), seed: UInt64 = 1
    ) -> JacobianProductStatistics {
        precondition(window >= 1, "window must be at least 1, got \(window)")
        precondition(parameters.count == layout.count, "parameters: \(parameters.count) scalars, layout needs \(layout.count)")
        let H = layout.architecture.hiddenSize
        let W_hh = layout.range(of: .W_hh(layer: 0))!.lowerBound
        let rows = hiddenStates.reduce(0) { $0 + $1.count }
        // d[r] = 1 − h² for each (sequence, step) row r, in order.
        let d = Buffer<Double>(count: rows * H, repeating: 0)
        var r = 0
        for sequence in hiddenStates {
            for h in sequence {
                precondition(h.count == H, "hidden state of \(h.count) values, H = \(H)")
                for i in 0..<H { d[r * H + i] = 1 - h[i] * h[i] }
                r += 1
            }
        }

        var norms = [Double](repeating: 0, count: rows)
        switch factorNorm {
        case .upperBound:
            let wNorm = largestSingularValue(of: parameters, offset: W_hh, size: H, seed: seed)
            for r in 0..<rows {
                var largest = 0.0
                for i in 0..<H { largest = max(largest, abs(d[r * H + i])) }
                norms[r] = wNorm * largest
            }
        case .spectral(let iterations):
            precondition(iterations >= 1, "spectral factor norm needs at least 1 iteration")
            norms = factorSpectralNorms(parameters: parameters, W_hh: W_hh, H: H, d: d, rows: rows,
                                        iterations: iterations, seed: seed)
        }

        let tiny = Double.leastNormalMagnitude
        var total = 0.0, windows = 0, start = 0
        for sequence in hiddenStates {
            let logs = norms[start..<start + sequence.count].map { log(max($0, tiny)) }
            start += sequence.count
            guard logs.count >= window else { continue }
            var sum = logs[0..<window].reduce(0, +)
            total += sum
            windows += 1
            for s in stride(from: 1, through: logs.count - window, by: 1) {
                sum += logs[s + window - 1] - logs[s - 1]
                total += sum
                windows += 1
            }
        }
        return JacobianProductStatistics(window: window, windowCount: windows,
                                          meanLogProduct: windows == 0 ? .nan : total / Double(windows),
                                          factorNorm: factorNorm)
    }

    /// σ_max(W_hhᵀ D_r) for every row r, by power iteration on J_rᵀJ_r = D_r W_hh W_hhᵀ D_r,
    /// all rows at once: two [rows, H]·[H, H] gemms per iteration.
    private static func factorSpectralNorms<T: BLASScalar>(parameters: Buffer<T>, W_hh: Int, H: Int,
                                                          d: Buffer<Double>, rows: Int,
                                                          iterations: Int, seed: UInt64) -> [Double] {
        guard rows > 0 else { return [] }
        let w = Buffer<Double>(count: H * H, repeating: 0)
        for i in 0..<H * H { w[i] = Double(parameters[W_hh + i]) }
        var generator = SeededGenerator(seed: seed)
        let start = (0..<H).map { _ in generator.nextGaussian() }
        let v = Buffer<Double>(count: rows * H, repeating: 0)
        let y = Buffer<Double>(count: rows * H, repeating: 0)
        for r in 0..<rows { v.copy(from: start, at: r * H) }
        for r in 0..<rows { normalize(v, row: r, n: H) }
        // Row form: (J x)ᵀ = (D x)ᵀ·W and (Jᵀ y)ᵀ = (yᵀ·Wᵀ) ⊙ d.
        func applyJ() {
            for i in 0..<rows * H { v[i] *= d[i] }
            BLAS.gemm(.none, .none, m: rows, n: H, k: H, a: v, b: w, c: y)
        }
        for _ in 0..<iterations {
            applyJ()
            BLAS.gemm(.none, .transposed, m: rows, n: H, k: H, a: y, b: w, c: v)
            for i in 0..<rows * H { v[i] *= d[i] }
            for r in 0..<rows {
                // JᵀJ v = 0: v is in the null space; any unit vector gives the same (zero or
                // not) answer after the next iteration, so restart from the start vector.
                if rowNorm(v, row: r, n: H) > 0 { normalize(v, row: r, n: H) } else { v.copy(from: start, at: r * H); normalize(v, row: r, n: H) }
            }
        }
        applyJ()
        return (0..<rows).map { rowNorm(y, row: $0, n: H) }
    }

    // MARK: - Small dense helpers

    private static func squareMatrix<T: BLASScalar>(_ matrix: Buffer<T>, offset: Int, size n: Int) -> Buffer<Double> {
        precondition(n >= 1, "matrix size must be positive, got \(n)")
        precondition(offset >= 0 && offset + n * n <= matrix.count,
                     "a \(n)×\(n) matrix at \(offset) overflows a buffer of \(matrix.count)")
        let a = Buffer<Double>(count: n * n, repeating: 0)
        for i in 0..<n * n { a[i] = Double(matrix[offset + i]) }
        return a
    }

    private static func rowNorm(_ m: Buffer<Double>, row: Int, n: Int) -> Double {
        var sum = 0.0
        for e in row * n..<(row + 1) * n { sum += m[e] * m[e] }
        return sum.squareRoot()
    }

    private static func dot(_ a: Buffer<Double>, row i: Int, _ b: Buffer<Double>, row j: Int, n: Int) -> Double {
        var sum = 0.0
        for e in 0..<n { sum += a[i * n + e] * b[j * n + e] }
        return sum
    }

    private static func normalize(_ m: Buffer<Double>, row: Int, n: Int) {
        let norm = rowNorm(m, row: row, n: n)
        guard norm > 0 else { return }
        for e in row * n..<(row + 1) * n { m[e] /= norm }
    }

    /// Gram–Schmidt of row 1 against the unit row 0, twice ("twice is enough"); a row that
    /// (numerically) lies in span(row 0) is replaced by a fresh random vector.
    private static func orthonormalizeSecondRow(_ q: Buffer<Double>, n: Int, generator: inout SeededGenerator) {
        for attempt in 0..<4 {
            let before = rowNorm(q, row: 1, n: n)
            for _ in 0..<2 {
                let c = dot(q, row: 0, q, row: 1, n: n)
                for e in 0..<n { q[n + e] -= c * q[e] }
            }
            let after = rowNorm(q, row: 1, n: n)
            if after > 1e-10 * before, after > 0 {
                normalize(q, row: 1, n: n)
                return
            }
            precondition(attempt < 3, "cannot find a second direction in dimension \(n)")
            for e in 0..<n { q[n + e] = generator.nextGaussian() }
        }
    }
}
