import BLAS
import Buffers
import RNN

/// The reference cell step in Double: the recurrence products on BLAS, the cells in plain Swift
/// with the exact tanh and σ, forward and backward side by side. It is what the gradient checks
/// differentiate by finite differences and what the Float step (Sources/RNN/Kernels/FloatCellStep.swift,
/// CRecurrence) is held to; only the tests run it, so it lives with them.
///
/// Forward, step t: hpStep [B, GH] = h_{t−1}·W_hh^T, then the cell from xp_t (xps, gathered for
/// all T·B rows by the layer) and hpStep. Backward, step t: dh_t = dH_t + dhCarry (what step t+1
/// sent), the cell's backward into xps (gru: and dhps), then dhCarry = dhp_t·W_hh for step t−1
/// (gru: onto its direct path z⊙dh).
///
/// Legend: B rows (sequences) of the step, H hidden width, G gate blocks (rnn 1, lstm 4,
/// gru 3), GH = G·H. Per row:
///   xp  [GH]  input projection W_xh x + b_xh (this step's row of the layer's projection)
///   hp  [GH]  recurrence product W_hh h_{t−1}, to which the forward kernels add b_hh
///   pre [GH]  gate pre-activations xp + hp (+ b_hh); gates [GH] their activations
/// Backward kernels turn dh (the total ∂L/∂h_t) into dxp = ∂L/∂xp (also ∂L/∂b_xh) and, for
/// gru only, a separate dhp = ∂L/∂hp (for rnn and lstm it equals dxp).

extension Double: RecurrentScalar {
    public static func packedRecurrence(kernel: RecurrenceKernel, gates: Int, hiddenSize: Int)
        -> (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)? { nil }

    public static var stepGathersInput: Bool { false }

    public static func stepSumsGradients(_ cell: CellKind) -> Bool { false }

    public static func prepareRecurrence(_ w: StackedBPTTWorkspace<Double>, parameters: Buffer<Double>, layer l: Int,
                                         product: PackedRecurrentWeights.Product) {}

    public static func softmaxExp(_ x: Double) -> Double { Double.exp(x) }

    public static func forwardStep(_ w: StackedBPTTWorkspace<Double>, parameters: Buffer<Double>, inputs: Buffer<Int32>,
                                   layer l: Int, step t: Int, batchSize B: Int) {
        let H = w.architecture.hiddenSize, cell = w.architecture.cell, GH = cell.gateCount * H, BH = B * H
        let p = parameters.baseAddress, h = w.hs[l].baseAddress
        BLAS.gemm(.none, .transposed, m: B, n: GH, k: H, a: w.hs[l], aOffset: (t - 1) * BH,
                  b: parameters, bOffset: w.W_hh[l], beta: 0, c: w.hpStep)
        let xpt = w.xps[l].baseAddress + (t - 1) * B * GH, hp = UnsafePointer(w.hpStep.baseAddress)
        switch cell {
        case .rnn:
            ReferenceCells.rnnForward(xp: xpt, hp: hp, b_hh: w.b_hh[l].map { UnsafePointer(p + $0) }, h: h + t * BH, rows: B, H: H)
        case .lstm:
            ReferenceCells.lstmForward(xp: xpt, hp: hp, b_hh: p + w.b_hh[l]!, cPrev: w.cs[l].baseAddress + (t - 1) * BH,
                                    gates: w.gates[l].baseAddress + (t - 1) * B * GH, c: w.cs[l].baseAddress + t * BH,
                                    tanhC: w.tanhCs[l].baseAddress + (t - 1) * BH, h: h + t * BH, rows: B, H: H)
        case .gru:
            ReferenceCells.gruForward(xp: xpt, hp: hp, b_hh: p + w.b_hh[l]!, hPrev: h + (t - 1) * BH,
                                   gates: w.gates[l].baseAddress + (t - 1) * B * GH,
                                   hn: w.hns[l].baseAddress + (t - 1) * BH, h: h + t * BH, rows: B, H: H)
        }
    }

    public static func backwardStep(_ w: StackedBPTTWorkspace<Double>, parameters: Buffer<Double>, inputs: Buffer<Int32>,
                                    layer l: Int, step t: Int, lastStep: Int, batchSize B: Int, gradients: Buffer<Double>?,
                                    recordNorms: Bool) {
        let H = w.architecture.hiddenSize, T = w.sequenceLength, cell = w.architecture.cell, GH = cell.gateCount * H
        let BH = B * H, h = w.hs[l].baseAddress, dhCarry = w.dhCarry.baseAddress
        let dht = w.dH.baseAddress + (t - 1) * BH, dxp = w.xps[l].baseAddress + (t - 1) * B * GH
        if t < lastStep { CellKernels.add(dhCarry, into: dht, count: BH) }
        if recordNorms { CellKernels.rowNorms(dht, rows: B, H: H, into: w.hNorms.baseAddress + ((l * T) + t - 1) * B) }
        switch cell {
        case .rnn:
            ReferenceCells.rnnBackward(dh: dht, h: h + t * BH, dxp: dxp, rows: B, H: H)
        case .lstm:
            ReferenceCells.lstmBackward(dh: dht, dc: w.dcCarry.baseAddress, gates: w.gates[l].baseAddress + (t - 1) * B * GH,
                                     cPrev: w.cs[l].baseAddress + (t - 1) * BH, tanhC: w.tanhCs[l].baseAddress + (t - 1) * BH,
                                     dxp: dxp, rows: B, H: H,
                                     cNorms: recordNorms ? w.cNorms.baseAddress + ((l * T) + t - 1) * B : nil)
        case .gru:
            ReferenceCells.gruBackward(dh: dht, gates: w.gates[l].baseAddress + (t - 1) * B * GH,
                                    hn: w.hns[l].baseAddress + (t - 1) * BH, hPrev: h + (t - 1) * BH, dxp: dxp,
                                    dhp: w.dhps.baseAddress + (t - 1) * B * GH, dhPrev: dhCarry, rows: B, H: H)
        }
        // dhCarry (+)= dhp_t·W_hh.l, [B, GH]·[GH, H] → [B, H], for step t−1.
        if t > 1 {
            BLAS.gemm(.none, .none, m: B, n: H, k: GH, a: cell == .gru ? w.dhps : w.xps[l], aOffset: (t - 1) * B * GH,
                      b: parameters, bOffset: w.W_hh[l], beta: cell == .gru ? 1 : 0, c: w.dhCarry)
        }
    }
}

enum ReferenceCells {
    /// The exact activations, whose derivatives the gradient checks compare with finite differences.
    @inline(__always)
    static func tanh(_ x: Double) -> Double { Double.tanh(x) }

    /// σ(x) = 1/(1+e^−x).
    @inline(__always)
    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Double.exp(-x)) }

    // MARK: - rnn: h = tanh(xp + hp + b_hh)

    static func rnnForward(xp: UnsafePointer<Double>, hp: UnsafePointer<Double>, b_hh: UnsafePointer<Double>?,
                                          h: UnsafeMutablePointer<Double>, rows B: Int, H: Int) {
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
    static func rnnBackward(dh: UnsafePointer<Double>, h: UnsafePointer<Double>, dxp: UnsafeMutablePointer<Double>,
                            rows B: Int, H: Int) {
        for k in 0..<B * H { dxp[k] = (1 - h[k] * h[k]) * dh[k] }
    }

    // MARK: - lstm (gate order i, f, g, o): c = f⊙c_prev + i⊙g, h = o⊙tanh(c)

    /// Writes gates (i, f, g, o activated), c, tanh(c) and h.
    static func lstmForward(
        xp: UnsafePointer<Double>, hp: UnsafePointer<Double>, b_hh: UnsafePointer<Double>, cPrev: UnsafePointer<Double>,
        gates: UnsafeMutablePointer<Double>, c: UnsafeMutablePointer<Double>, tanhC: UnsafeMutablePointer<Double>,
        h: UnsafeMutablePointer<Double>, rows B: Int, H: Int
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
    static func lstmBackward(
        dh: UnsafePointer<Double>, dc: UnsafeMutablePointer<Double>, gates: UnsafePointer<Double>, cPrev: UnsafePointer<Double>,
        tanhC: UnsafePointer<Double>, dxp: UnsafeMutablePointer<Double>, rows B: Int, H: Int,
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
                squares += dct * dct
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
    static func gruForward(
        xp: UnsafePointer<Double>, hp: UnsafePointer<Double>, b_hh: UnsafePointer<Double>, hPrev: UnsafePointer<Double>,
        gates: UnsafeMutablePointer<Double>, hn: UnsafeMutablePointer<Double>, h: UnsafeMutablePointer<Double>, rows B: Int, H: Int
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
    static func gruBackward(
        dh: UnsafePointer<Double>, gates: UnsafePointer<Double>, hn: UnsafePointer<Double>, hPrev: UnsafePointer<Double>,
        dxp: UnsafeMutablePointer<Double>, dhp: UnsafeMutablePointer<Double>, dhPrev: UnsafeMutablePointer<Double>, rows B: Int, H: Int
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
}
