import BLAS
import Buffers

/// The reference step in Double: the recurrence products on BLAS, the cells in plain Swift
/// (CellKernels) with the exact tanh and σ. It is what the gradient checks differentiate by
/// finite differences, and what the Float step (FloatCellStep) is held to.
///
/// Forward, step t: hpStep [B, GH] = h_{t−1}·W_hh^T, then the cell from xp_t (xps, gathered for
/// all T·B rows by the layer) and hpStep. Backward, step t: dh_t = dH_t + dhCarry (what step t+1
/// sent), the cell's backward into xps (gru: and dhps), then dhCarry = dhp_t·W_hh for step t−1
/// (gru: onto its direct path z⊙dh).
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
            CellKernels.rnnForward(xp: xpt, hp: hp, b_hh: w.b_hh[l].map { UnsafePointer(p + $0) }, h: h + t * BH, rows: B, H: H)
        case .lstm:
            CellKernels.lstmForward(xp: xpt, hp: hp, b_hh: p + w.b_hh[l]!, cPrev: w.cs[l].baseAddress + (t - 1) * BH,
                                    gates: w.gates[l].baseAddress + (t - 1) * B * GH, c: w.cs[l].baseAddress + t * BH,
                                    tanhC: w.tanhCs[l].baseAddress + (t - 1) * BH, h: h + t * BH, rows: B, H: H)
        case .gru:
            CellKernels.gruForward(xp: xpt, hp: hp, b_hh: p + w.b_hh[l]!, hPrev: h + (t - 1) * BH,
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
            CellKernels.rnnBackward(dh: dht, h: h + t * BH, dxp: dxp, rows: B, H: H)
        case .lstm:
            CellKernels.lstmBackward(dh: dht, dc: w.dcCarry.baseAddress, gates: w.gates[l].baseAddress + (t - 1) * B * GH,
                                     cPrev: w.cs[l].baseAddress + (t - 1) * BH, tanhC: w.tanhCs[l].baseAddress + (t - 1) * BH,
                                     dxp: dxp, rows: B, H: H,
                                     cNorms: recordNorms ? w.cNorms.baseAddress + ((l * T) + t - 1) * B : nil)
        case .gru:
            CellKernels.gruBackward(dh: dht, gates: w.gates[l].baseAddress + (t - 1) * B * GH,
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
