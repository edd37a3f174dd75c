import Buffers
import CRecurrence

/// One time step of a gated layer (lstm, gru) in Float: the packed per-step product and the
/// vectorized cell kernels of CRecurrence (cells.h), on the kernel path of the workspace.
/// Double (the gradient checks) and the rnn cell keep the step of StackedBPTTWorkspace
/// (BLAS/packed product + CellKernels); both compute DESIGN §2b, so the tests compare them.
///
/// Legend: B rows (sequences) of the step, H hidden width, GH = G·H, BH = B·H.
/// Forward, step t:
///   lstm  xp_t += h_{t−1}·W_hh^T in place (no separate product buffer), then the cell adds b_hh;
///   gru   hp = h_{t−1}·W_hh^T (r multiplies hp_n + b_hn alone, so it stays apart from xp).
/// Backward, step t: dH_t already holds the total ∂L/∂h_t, because step t+1 accumulated its
/// recurrence gradient (and gru's direct path z⊙dh) straight into dH_{t−1}: no carry buffer,
/// no extra pass to add it.
extension StackedBPTTWorkspace {
    /// The Float pointer of a buffer of this workspace (only called when Scalar is Float).
    @inline(__always)
    private func float(_ buffer: Buffer<Scalar>, _ offset: Int = 0) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(buffer.baseAddress + offset).assumingMemoryBound(to: Float.self)
    }

    /// Whether this workspace runs its gated steps here (Float, lstm or gru).
    var runsGatedSteps: Bool { Scalar.self == Float.self && architecture.cell != .rnn && packedW_hh != nil }

    /// Forward step t (1…T) of layer l; W_hh.l packed for the forward product. False: the
    /// caller runs its generic step.
    @inline(__always)
    func gatedForwardStep(parameters: Buffer<Scalar>, layer l: Int, step t: Int, batchSize B: Int) -> Bool {
        guard runsGatedSteps, let packed = packedW_hh?.forward,
              let hsF = hs[l] as? Buffer<Float>, let xpF = xps[l] as? Buffer<Float> else { return false }
        let H = architecture.hiddenSize, GH = architecture.cell.gateCount * H, BH = B * H
        let path = kernel.path.c, xpOffset = (t - 1) * B * GH
        let b_hh = float(parameters, b_hh[l]!), h = float(hs[l])
        switch architecture.cell {
        case .lstm:
            packed.forward(h: hsF, hOffset: (t - 1) * BH, rows: B, into: xpF, aOffset: xpOffset, epilogue: .accumulate)
            rnn_lstm_forward(path, Int32(B), Int32(H), float(xps[l], xpOffset), b_hh, float(cs[l], (t - 1) * BH),
                             float(gates[l], xpOffset), float(cs[l], t * BH), float(tanhCs[l], (t - 1) * BH), h + t * BH)
        case .gru:
            guard let hpF = hpStep as? Buffer<Float> else { return false }
            hpF.baseAddress.update(repeating: 0, count: B * GH)
            packed.forward(h: hsF, hOffset: (t - 1) * BH, rows: B, into: hpF, aOffset: 0, epilogue: .accumulate)
            rnn_gru_forward(path, Int32(B), Int32(H), float(xps[l], xpOffset), hpF.baseAddress, b_hh, h + (t - 1) * BH,
                            float(gates[l], xpOffset), float(hns[l], (t - 1) * BH), h + t * BH)
        case .rnn:
            return false
        }
        return true
    }

    /// Backward step t (lastStep…1) of layer l, after dcCarry was zeroed and W_hh.l packed for
    /// the backward product: dxp_t (and gru's dhp_t), dcCarry, and dH_{t−1} += what step t sends
    /// back. With recordNorms, the row norms of dH_t (and lstm's ∂L/∂c_t). False: the caller
    /// runs its generic step.
    @inline(__always)
    func gatedBackwardStep(layer l: Int, step t: Int, batchSize B: Int, recordNorms: Bool) -> Bool {
        guard runsGatedSteps, let packed = packedW_hh?.backward, let dHF = dH as? Buffer<Float> else { return false }
        let H = architecture.hiddenSize, T = sequenceLength, GH = architecture.cell.gateCount * H, BH = B * H
        let path = kernel.path.c, gateOffset = (t - 1) * B * GH, dht = float(dH, (t - 1) * BH)
        if recordNorms { CellKernels.rowNorms(dht, rows: B, H: H, into: hNorms.baseAddress + ((l * T) + t - 1) * B) }
        let da: Buffer<Scalar>
        switch architecture.cell {
        case .lstm:
            rnn_lstm_backward(path, Int32(B), Int32(H), dht, float(dcCarry), float(gates[l], gateOffset),
                              float(cs[l], (t - 1) * BH), float(tanhCs[l], (t - 1) * BH), float(xps[l], gateOffset),
                              recordNorms ? cNorms.baseAddress + ((l * T) + t - 1) * B : nil)
            da = xps[l]
        case .gru:
            rnn_gru_backward(path, Int32(B), Int32(H), dht, float(gates[l], gateOffset), float(hns[l], (t - 1) * BH),
                             float(hs[l], (t - 1) * BH), float(xps[l], gateOffset), float(dhps, gateOffset),
                             t > 1 ? dht - BH : nil)
            da = dhps
        case .rnn:
            return false
        }
        if t > 1, let daF = da as? Buffer<Float> {
            _ = packed.backward(da: daF, daOffset: gateOffset, rows: B, into: dHF, dhOffset: (t - 2) * BH, epilogue: .accumulate)
        }
        return true
    }
}
