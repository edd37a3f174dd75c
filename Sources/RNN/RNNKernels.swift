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

    /// h = tanh(a) in place. Float uses `tanhApproximation` (libm's tanhf is a scalar call
    /// and cost ~7% of a training step at H=512); Double keeps libm's tanh so the gradient
    /// checks see the exact function whose derivative 1 - h² the backward pass uses.
    static func tanhInPlace<T: BLASScalar>(_ a: UnsafeMutablePointer<T>, count: Int) {
        if T.self == Float.self {
            let f = UnsafeMutableRawPointer(a).assumingMemoryBound(to: Float.self)
            for i in 0..<count { f[i] = tanhApproximation(f[i]) }
        } else {
            for i in 0..<count { a[i] = T.tanh(a[i]) }
        }
    }

    /// tanh for Float as the odd rational minimax p(x)/q(x) of degrees 13/6 used by Eigen,
    /// XLA and MLAS (coefficients from Eigen's generic_fast_tanh_float); error below 3e-7
    /// absolute and relative, ~5 ulp near ±1 (TanhAccuracyTests bounds it). Only multiplies, adds, selects and one divide, so the
    /// loop vectorizes. The clamp at ±7.905 (where tanh rounds to ±1 in Float) uses compares
    /// that pass NaN through, so a diverging model still shows a non-finite loss.
    @inline(__always)
    static func tanhApproximation(_ x: Float) -> Float {
        let bound: Float = 7.90531110763549805
        let low = x < -bound ? -bound : x
        let c = low > bound ? bound : low
        let c2 = c * c
        var p: Float = -2.76076847742355e-16
        p = p * c2 + 2.00018790482477e-13
        p = p * c2 - 8.60467152213735e-11
        p = p * c2 + 5.12229709037114e-08
        p = p * c2 + 1.48572235717979e-05
        p = p * c2 + 6.37261928875436e-04
        p = p * c2 + 4.89352455891786e-03
        var q: Float = 1.19825839466702e-06
        q = q * c2 + 1.18534705686654e-04
        q = q * c2 + 2.26843463243900e-03
        q = q * c2 + 4.89352518554385e-03
        return c * p / q
    }

    /// Backward of tanh, fused with the gradient-flow measurement: dh becomes
    /// da = (1 - h²) ⊙ dh in place. Returns the sum over the B rows of ‖dh_row‖.
    static func tanhBackwardInPlace<T: BLASScalar>(
        _ dh: UnsafeMutablePointer<T>, h: UnsafePointer<T>, rows: Int, H: Int
    ) -> Double {
        var normSum = 0.0
        for r in 0..<rows {
            let d = dh + r * H, hr = h + r * H
            // Four partial sums keep the reduction off the loop's critical path.
            var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
            var i = 0
            while i + 4 <= H {
                let g0 = d[i], g1 = d[i + 1], g2 = d[i + 2], g3 = d[i + 3]
                s0 += g0 * g0; s1 += g1 * g1; s2 += g2 * g2; s3 += g3 * g3
                d[i] = (1 - hr[i] * hr[i]) * g0
                d[i + 1] = (1 - hr[i + 1] * hr[i + 1]) * g1
                d[i + 2] = (1 - hr[i + 2] * hr[i + 2]) * g2
                d[i + 3] = (1 - hr[i + 3] * hr[i + 3]) * g3
                i += 4
            }
            while i < H {
                let g = d[i]
                s0 += g * g
                d[i] = (1 - hr[i] * hr[i]) * g
                i += 1
            }
            normSum += Double(s0 + s1 + s2 + s3).squareRoot()
        }
        return normSum
    }

    /// Softmax and cross-entropy of one row of logits y (+ b_y), numerically stable
    /// (max-subtracted, log-sum-exp). Returns -log p[target]. Leaves in `y`:
    /// - dyScale == nil: the probabilities p;
    /// - dyScale == s:   the logit gradient dy = (p - onehot(target)) · s.
    /// The reductions run as four independent chains and the exponentials as a plain map (Float:
    /// `expApproximation`), so the loops pipeline and vectorize: with libm's expf and one serial
    /// chain this was ~8% of a training step at H=256 once the recurrence ran on CRecurrence.
    @inline(__always)
    static func softmaxCrossEntropy<T: BLASScalar>(
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
        if T.self == Float.self {
            let f = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
            let fMaximum = unsafeBitCast(maximum, to: Float.self)
            for j in 0..<V { f[j] = expApproximation(f[j] - fMaximum) }
        } else {
            for j in 0..<V { y[j] = T.exp(y[j] - maximum) }
        }
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
