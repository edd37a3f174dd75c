import BLAS
import Buffers

/// The element-wise loops of the forward and backward passes, on raw pointers so that the
/// Float specialization vectorizes (no bounds or exclusivity checks inside the loops).
/// Forward/backward pairs sit side by side; everything else in the model is a gemm.
enum RNNKernels {
    /// dst[c·rows + r] = src[r·columns + c]: [rows, columns] → [columns, rows].
    static func transpose<T: BLASScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int,
                                         into dst: UnsafeMutablePointer<T>) {
        // Blocked so both sides stay in cache for large H·V.
        let block = 32
        for r0 in stride(from: 0, to: rows, by: block) {
            for c0 in stride(from: 0, to: columns, by: block) {
                for r in r0..<min(r0 + block, rows) {
                    for c in c0..<min(c0 + block, columns) {
                        dst[c * rows + r] = src[r * columns + c]
                    }
                }
            }
        }
    }

    /// The input projection for one step: a_b = W_xh[:, x_b] + b_h, a gather of rows of the
    /// transposed copy W_xh^T [V, H] (one-hot x: a dense product would be all zeros but one).
    static func gatherInput<T: BLASScalar>(
        a: UnsafeMutablePointer<T>, W_xhT: UnsafePointer<T>, b_h: UnsafePointer<T>,
        tokens: UnsafePointer<Int32>, tokenStride: Int, batchSize B: Int, H: Int, V: Int
    ) {
        for b in 0..<B {
            let x = Int(tokens[b * tokenStride])
            precondition(x >= 0 && x < V, "input token \(x) outside the vocabulary 0..<\(V)")
            let row = a + b * H, column = W_xhT + x * H
            for i in 0..<H { row[i] = column[i] + b_h[i] }
        }
    }

    /// Backward of `gatherInput` for all T·B rows at once: dW_xh^T[x] += da (scatter-add),
    /// db_h += da.
    static func scatterInputGradient<T: BLASScalar>(
        da: UnsafePointer<T>, dW_xhT: UnsafeMutablePointer<T>, db_h: UnsafeMutablePointer<T>,
        inputs: UnsafePointer<Int32>, sequenceLength T_: Int, batchSize B: Int, H: Int
    ) {
        for t in 0..<T_ {
            for b in 0..<B {
                let row = da + (t * B + b) * H, column = dW_xhT + Int(inputs[b * T_ + t]) * H
                for i in 0..<H {
                    column[i] += row[i]
                    db_h[i] += row[i]
                }
            }
        }
    }

    /// Softmax and cross-entropy of one row of logits y (+ b_y), numerically stable
    /// (max-subtracted, log-sum-exp). Returns -log p[target]. Leaves in `y`:
    /// - dyScale == nil: the probabilities p;
    /// - dyScale == s:   the logit gradient dy = (p - onehot(target)) · s.
    /// The reductions run as four independent chains and the exponentials as a plain map
    /// (`softmaxExp`; Float's is `expApproximation`), so the loops pipeline and vectorize: with libm's expf and one serial
    /// chain this was ~8% of a training step at H=256 once the recurrence ran on CRecurrence.
    @inline(__always)
    static func softmaxCrossEntropy<T: RecurrentScalar>(
        y: UnsafeMutablePointer<T>, b_y: UnsafePointer<T>, target: Int, V: Int, dyScale: T?
    ) -> T {
        // A NaN logit is skipped by the maximum but makes the sum, hence the loss, NaN.
        var m0 = -T.infinity, m1 = -T.infinity, m2 = -T.infinity, m3 = -T.infinity
        var j = 0
        while j + 4 <= V {
            let v0 = y[j] + b_y[j], v1 = y[j + 1] + b_y[j + 1], v2 = y[j + 2] + b_y[j + 2], v3 = y[j + 3] + b_y[j + 3]
            y[j] = v0; y[j + 1] = v1; y[j + 2] = v2; y[j + 3] = v3
            m0 = v0 > m0 ? v0 : m0; m1 = v1 > m1 ? v1 : m1; m2 = v2 > m2 ? v2 : m2; m3 = v3 > m3 ? v3 : m3
            j += 4
        }
        while j < V {
            let v = y[j] + b_y[j]
            y[j] = v
            m0 = v > m0 ? v : m0
            j += 1
        }
        let maximum = Swift.max(Swift.max(m0, m1), Swift.max(m2, m3))
        let z = y[target] - maximum      // kept before exp: exp(z) may underflow, z does not
        for j in 0..<V { y[j] = T.softmaxExp(y[j] - maximum) }
        var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
        j = 0
        while j + 4 <= V {
            s0 += y[j]; s1 += y[j + 1]; s2 += y[j + 2]; s3 += y[j + 3]
            j += 4
        }
        while j < V {
            s0 += y[j]
            j += 1
        }
        let sum = (s0 + s1) + (s2 + s3)
        // -log p[target] = log Σ exp(y - max) - (y[target] - max): log-sum-exp, no division.
        let loss = T.log(sum) - z
        let scale = (dyScale ?? 1) / sum
        for j in 0..<V { y[j] *= scale }
        if let dyScale { y[target] -= dyScale }
        return loss
    }

    /// e^x for Float with only multiplies, adds, selects and integer bit operations (no libm
    /// call), so the softmax loop vectorizes. Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2,
    /// with n = round(x·log2 e) by the 1.5·2²³ trick; e^r by Cephes' expf polynomial (degree 7);
    /// 2^n built in the exponent bits. Relative error below 1.5e-7, about 1.3 ulp (ExpAccuracyTests). x is
    /// clamped to [-87, 88.376]: e^-87 ≈ 1.6e-38 stands in for smaller results (no softmax sum
    /// can see them; the inputs here are y - max ≤ 0) and e^88.376 ≈ 2.4e38 for larger ones.
    /// The clamp's compares pass NaN through, so NaN stays NaN.
    @inline(__always)
    static func expApproximation(_ x: Float) -> Float {
        let high = x > 88.3762626647949 ? 88.3762626647949 : x
        let c: Float = high < -87 ? -87 : high
        let shifter: Float = 0x1.8p23
        let shifted = c * 1.44269504088896341 + shifter
        let n = shifted - shifter                              // round(c·log2 e), exact
        var r = c - n * 0.693359375                            // ln2 split: exact product
        r = r - n * -2.12194440e-4
        let r2 = r * r
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r2 + r + 1
        // The low bits of `shifted` hold n (two's complement, |n| ≤ 128): 2^n = (n + 127) << 23.
        let scale = Float(bitPattern: (shifted.bitPattern &+ 127) << 23)
        return p * scale
    }

    /// sums[j] (+)= Σ_r m[r, j]: a bias gradient, the column sums of [rows, columns].
    static func addColumnSums<T: BLASScalar>(_ m: UnsafePointer<T>, rows: Int, columns: Int,
                                             into sums: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let row = m + r * columns
            for j in 0..<columns { sums[j] += row[j] }
        }
    }
}
