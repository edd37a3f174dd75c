import BLAS

/// The element-wise part of one time step of each cell (DESIGN §2b) in plain Swift, forward and
/// backward side by side, over the B rows of a step: the reference step (DoubleCellStep); the
/// Float step runs the same formulas in C (FloatCellStep). Everything else — input projections,
/// the recurrence product, weight gradients — is a gemm in StackedBPTTWorkspace.
///
/// Legend: B rows (sequences) of the step, H hidden width, G gate blocks (rnn 1, lstm 4,
/// gru 3), GH = G·H. Per row:
///   xp  [GH]  input projection W_xh x + b_xh (this step's row of the layer's projection)
///   hp  [GH]  recurrence product W_hh h_{t−1}, to which the forward kernels add b_hh
///   pre [GH]  gate pre-activations xp + hp (+ b_hh); gates [GH] their activations
/// Backward kernels turn dh (the total ∂L/∂h_t) into dxp = ∂L/∂xp (also ∂L/∂b_xh) and, for
/// gru only, a separate dhp = ∂L/∂hp (for rnn and lstm it equals dxp).
enum CellKernels {
    // MARK: - Activations

    /// The exact activations: this is the reference path (DoubleCellStep), whose derivatives the
    /// gradient checks compare with finite differences.
    @inline(__always)
    static func tanh<T: BLASScalar>(_ x: T) -> T { T.tanh(x) }

    /// σ(x) = 1/(1+e^−x).
    @inline(__always)
    static func sigmoid<T: BLASScalar>(_ x: T) -> T { 1 / (1 + T.exp(-x)) }

    // MARK: - rnn: h = tanh(xp + hp + b_hh)

    static func rnnForward<T: BLASScalar>(xp: UnsafePointer<T>, hp: UnsafePointer<T>, b_hh: UnsafePointer<T>?,
                                          h: UnsafeMutablePointer<T>, rows B: Int, H: Int) {
        for r in 0..<B {
            let x = xp + r * H, p = hp + r * H, out = h + r * H
            if let b_hh {
                for j in 0..<H { out[j] = tanh(x[j] + (p[j] + b_hh[j])) }
            } else {
                for j in 0..<H { out[j] = tanh(x[j] + p[j]) }
            }
        }
    }

    /// dpre = (1 − h²) ⊙ dh.
    static func rnnBackward<T: BLASScalar>(dh: UnsafePointer<T>, h: UnsafePointer<T>,
                                           dxp: UnsafeMutablePointer<T>, rows B: Int, H: Int) {
        for k in 0..<B * H { dxp[k] = (1 - h[k] * h[k]) * dh[k] }
    }

    // MARK: - lstm (gate order i, f, g, o): c = f⊙c_prev + i⊙g, h = o⊙tanh(c)

    /// Writes gates (i, f, g, o activated), c, tanh(c) and h.
    static func lstmForward<T: BLASScalar>(
        xp: UnsafePointer<T>, hp: UnsafePointer<T>, b_hh: UnsafePointer<T>, cPrev: UnsafePointer<T>,
        gates: UnsafeMutablePointer<T>, c: UnsafeMutablePointer<T>, tanhC: UnsafeMutablePointer<T>,
        h: UnsafeMutablePointer<T>, rows B: Int, H: Int
    ) {
        let GH = 4 * H
        for r in 0..<B {
            let x = xp + r * GH, p = hp + r * GH, a = gates + r * GH
            for k in 0..<GH { a[k] = x[k] + (p[k] + b_hh[k]) }
            for j in 0..<H {
                let i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = tanh(a[2 * H + j]), o = sigmoid(a[3 * H + j])
                a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o
                let cNew = f * cPrev[r * H + j] + i * g
                let tc = tanh(cNew)
                c[r * H + j] = cNew
                tanhC[r * H + j] = tc
                h[r * H + j] = o * tc
            }
        }
    }

    /// dc carries ∂L/∂c_t through c_{t+1} in, and leaves ∂L/∂c_{t−1} = dc_t⊙f. With
    /// cNorms, writes ‖∂L/∂c_t‖ of each row (the gradient-flow measurement).
    static func lstmBackward<T: BLASScalar>(
        dh: UnsafePointer<T>, dc: UnsafeMutablePointer<T>, gates: UnsafePointer<T>, cPrev: UnsafePointer<T>,
        tanhC: UnsafePointer<T>, dxp: UnsafeMutablePointer<T>, rows B: Int, H: Int,
        cNorms: UnsafeMutablePointer<Double>? = nil
    ) {
        let GH = 4 * H
        for r in 0..<B {
            let a = gates + r * GH, d = dxp + r * GH
            var squares = 0.0
            for j in 0..<H {
                let k = r * H + j
                let i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], tc = tanhC[k]
                let dct = dc[k] + dh[k] * o * (1 - tc * tc)
                squares += Double(dct * dct)
                d[j] = dct * g * i * (1 - i)
                d[H + j] = dct * cPrev[k] * f * (1 - f)
                d[2 * H + j] = dct * i * (1 - g * g)
                d[3 * H + j] = dh[k] * tc * o * (1 - o)
                dc[k] = dct * f
            }
            cNorms?[r] = squares.squareRoot()
        }
    }

    // MARK: - gru (gate order r, z, n): n = tanh(xp_n + r⊙(hp_n + b_hn)), h = (1−z)⊙n + z⊙h_prev

    /// Writes gates (r, z, n activated), hn = hp_n + b_hn (needed by the backward of r) and h.
    static func gruForward<T: BLASScalar>(
        xp: UnsafePointer<T>, hp: UnsafePointer<T>, b_hh: UnsafePointer<T>, hPrev: UnsafePointer<T>,
        gates: UnsafeMutablePointer<T>, hn: UnsafeMutablePointer<T>, h: UnsafeMutablePointer<T>, rows B: Int, H: Int
    ) {
        let GH = 3 * H
        for r in 0..<B {
            let x = xp + r * GH, p = hp + r * GH, a = gates + r * GH
            for j in 0..<H {
                let k = r * H + j
                let rg = sigmoid(x[j] + (p[j] + b_hh[j]))
                let z = sigmoid(x[H + j] + (p[H + j] + b_hh[H + j]))
                let hnj = p[2 * H + j] + b_hh[2 * H + j]
                let n = tanh(x[2 * H + j] + rg * hnj)
                a[j] = rg; a[H + j] = z; a[2 * H + j] = n
                hn[k] = hnj
                h[k] = (1 - z) * n + z * hPrev[k]
            }
        }
    }

    /// Writes dxp, dhp and dhPrev = z⊙dh (the direct path to h_{t−1}; the caller adds
    /// dhp·W_hh to it).
    static func gruBackward<T: BLASScalar>(
        dh: UnsafePointer<T>, gates: UnsafePointer<T>, hn: UnsafePointer<T>, hPrev: UnsafePointer<T>,
        dxp: UnsafeMutablePointer<T>, dhp: UnsafeMutablePointer<T>, dhPrev: UnsafeMutablePointer<T>, rows B: Int, H: Int
    ) {
        let GH = 3 * H
        for r in 0..<B {
            let a = gates + r * GH, dx = dxp + r * GH, dp = dhp + r * GH
            for j in 0..<H {
                let k = r * H + j
                let rg = a[j], z = a[H + j], n = a[2 * H + j], g = dh[k]
                let dn = g * (1 - z) * (1 - n * n)
                let dr = dn * hn[k] * rg * (1 - rg)
                let dz = g * (hPrev[k] - n) * z * (1 - z)
                dx[j] = dr; dx[H + j] = dz; dx[2 * H + j] = dn
                dp[j] = dr; dp[H + j] = dz; dp[2 * H + j] = dn * rg
                dhPrev[k] = g * z
            }
        }
    }

    // MARK: - Helpers shared by the layers

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
    static func add<T: BLASScalar>(_ b: UnsafePointer<T>, into a: UnsafeMutablePointer<T>, count: Int) {
        for k in 0..<count { a[k] += b[k] }
    }

    /// out[r] = ‖row r‖ for rows of width H.
    static func rowNorms<T: BLASScalar>(_ m: UnsafePointer<T>, rows: Int, H: Int, into out: UnsafeMutablePointer<Double>) {
        for r in 0..<rows {
            var s = 0.0
            for j in 0..<H { let v = Double(m[r * H + j]); s += v * v }
            out[r] = s.squareRoot()
        }
    }
}
