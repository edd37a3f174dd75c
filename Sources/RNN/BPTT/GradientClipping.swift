import BLAS
import Buffers

/// Gradient clipping over the flat gradient buffer (docs/design.md §4). Each function is exported
/// specialized for Float (training) and Double (checks): an unspecialized generic call from
/// another module would cost a witness-table call per element.
public enum GradientClipping {
    /// L2 norm over the whole buffer, accumulated in Double (a Float sum of 10⁶ squares
    /// would lose digits).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func l2Norm<T: BLASScalar>(_ buffer: Buffer<T>) -> Double {
        let p = buffer.baseAddress
        // Four partial sums: independent add chains, and a little less rounding.
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= buffer.count {
            let a = Double(p[i]), b = Double(p[i + 1]), c = Double(p[i + 2]), d = Double(p[i + 3])
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            i += 4
        }
        while i < buffer.count {
            let a = Double(p[i])
            s0 += a * a
            i += 1
        }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }

    /// torch.nn.utils.clip_grad_norm_: if norm > maxNorm, scale by maxNorm/(norm + 1e-6).
    /// Returns the norm BEFORE clipping. A non-finite norm leaves the buffer untouched (the
    /// caller skips such a step, docs/design.md §4) and is returned as is.
    @discardableResult
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func clipByGlobalNorm<T: BLASScalar>(_ gradients: Buffer<T>, maxNorm: Double) -> Double {
        let norm = l2Norm(gradients)
        guard norm.isFinite, norm > maxNorm else { return norm }
        let scale = T(maxNorm / (norm + 1e-6))
        let p = gradients.baseAddress
        for i in 0..<gradients.count { p[i] *= scale }
        return norm
    }

    /// Element-wise clamp to [-limit, limit] (min-char-rnn's np.clip); returns how many
    /// elements were clipped. NaNs are left as they are.
    @discardableResult
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func clipByValue<T: BLASScalar>(_ gradients: Buffer<T>, limit: Double) -> Int {
        precondition(limit >= 0, "clip limit must be non-negative, got \(limit)")
        let high = T(limit), low = -T(limit)
        let p = gradients.baseAddress
        var clipped = 0
        for i in 0..<gradients.count {
            let v = p[i]
            if v > high { p[i] = high; clipped += 1 } else if v < low { p[i] = low; clipped += 1 }
        }
        return clipped
    }
}
