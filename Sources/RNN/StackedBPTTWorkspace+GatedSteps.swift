import Buffers

/// One time step of a gated layer (lstm, gru) in Float: the packed per-step product and the
/// vectorized cell kernels (GatedCellKernels), on the kernel path of the workspace. Double
/// (the gradient checks) and the rnn cell keep the step of StackedBPTTWorkspace (BLAS or
/// packed product + CellKernels); both compute DESIGN §2b, and the tests compare them.
///
/// Legend: B rows (sequences) of the step, H hidden width, GH = G·H, BH = B·H.
/// Forward, step t:
///   layer 0 gathers its input rows xp_t = W_xh.0[:, x] + b_xh.0 here, just before they are
///         used, into a step buffer (lstm hpStep, gru xpStep), instead of all T·B rows
///         [T·B, GH] at once (lstm at H = 512: 16 MB written to memory and read back);
///   lstm  pre = xp_t + h_{t−1}·W_hh^T accumulated in place (no product buffer to clear and
///         re-read), then the cell adds b_hh;
///   gru   hp = h_{t−1}·W_hh^T apart from xp (r multiplies hp_n + b_hn alone).
/// Backward, step t: dH_t already holds the total ∂L/∂h_t, because step t+1 accumulated its
/// recurrence gradient (and gru's direct path z⊙dh) straight into dH_{t−1}: no carry buffer
/// and no pass to add it. The cell kernel also adds the step's rows to db_hh, db_xh and (layer
/// 0) dW_xh.0^T while they are in L1, so `weightGradients` makes no pass over all T·B rows of
/// dxp for them (at H = 512 lstm, two 16 MB passes); it keeps the GEMMs.
extension StackedBPTTWorkspace {
    /// Whether this workspace runs its gated steps here (Float, lstm or gru).
    var runsGatedSteps: Bool { Scalar.self == Float.self && architecture.cell != .rnn && packedW_hh != nil }

    /// A Float view of one of this workspace's buffers (only called when Scalar is Float).
    @inline(__always)
    private func slice(_ buffer: Buffer<Scalar>, _ offset: Int = 0) -> FloatSlice {
        FloatSlice(unsafeDowncast(buffer, to: Buffer<Float>.self), at: offset)
    }

    /// Forward step t (1…T) of layer l, W_hh.l packed for the forward product. False: the caller
    /// runs its generic step.
    @inline(__always)
    func gatedForwardStep(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, layer l: Int, step t: Int,
                          batchSize B: Int) -> Bool {
        guard runsGatedSteps, let packed = packedW_hh?.forward else { return false }
        let H = architecture.hiddenSize, GH = architecture.cell.gateCount * H, BH = B * H
        let cells = GatedCellKernels(kernel: kernel), gateOffset = (t - 1) * B * GH
        let hs = slice(hs[l]).buffer, b_hh = slice(parameters, b_hh[l]!)
        // Where xp_t is: layer 0 gathers it now into a step buffer (lstm then accumulates the
        // product in it), upper layers' projection gemm wrote it into xps.
        let xp = l > 0 ? slice(xps[l], gateOffset) : architecture.cell == .lstm ? slice(hpStep) : slice(xpStep)
        if l == 0 {
            RNNKernels.gatherInput(a: xp.pointer(B * GH, "xp"), W_xhT: slice(W_xhT).buffer.baseAddress,
                                   b_h: slice(parameters, b_xh[0]).pointer(GH, "b_xh"), tokens: inputs.baseAddress + t - 1,
                                   tokenStride: sequenceLength, batchSize: B, H: GH, V: architecture.vocabularySize)
        }
        switch architecture.cell {
        case .lstm:
            packed.forward(h: hs, hOffset: (t - 1) * BH, rows: B, into: xp.buffer, aOffset: xp.offset, epilogue: .accumulate)
            cells.lstmForward(rows: B, hidden: H, pre: xp, b_hh: b_hh, cPrev: slice(cs[l], (t - 1) * BH),
                              gates: slice(gates[l], gateOffset), c: slice(cs[l], t * BH),
                              tanhC: slice(tanhCs[l], (t - 1) * BH), h: FloatSlice(hs, at: t * BH))
        case .gru:
            let hp = slice(hpStep)
            hp.buffer.baseAddress.update(repeating: 0, count: B * GH)
            packed.forward(h: hs, hOffset: (t - 1) * BH, rows: B, into: hp.buffer, aOffset: 0, epilogue: .accumulate)
            cells.gruForward(rows: B, hidden: H, xp: xp, hp: hp, b_hh: b_hh,
                             hPrev: FloatSlice(hs, at: (t - 1) * BH), gates: slice(gates[l], gateOffset),
                             hn: slice(hns[l], (t - 1) * BH), h: FloatSlice(hs, at: t * BH))
        case .rnn:
            return false
        }
        return true
    }

    /// Backward step t (lastStep…1) of layer l, after dcCarry was zeroed and W_hh.l packed for
    /// the backward product: dxp_t (and gru's dhp_t), dcCarry, and dH_{t−1} += what step t sends
    /// back; with gradients, adds to db_hh.l, db_xh.l and (l = 0) W_xhT, zeroed at t = lastStep.
    /// With recordNorms, the row norms of dH_t (and lstm's ∂L/∂c_t). False: the caller runs its
    /// generic step.
    @inline(__always)
    func gatedBackwardStep(layer l: Int, step t: Int, lastStep: Int, batchSize B: Int, inputs: Buffer<Int32>,
                           gradients: Buffer<Scalar>?, recordNorms: Bool) -> Bool {
        guard runsGatedSteps, let packed = packedW_hh?.backward else { return false }
        let H = architecture.hiddenSize, T = sequenceLength, GH = architecture.cell.gateCount * H, BH = B * H
        let cells = GatedCellKernels(kernel: kernel), gateOffset = (t - 1) * B * GH
        var sums: CellGradientSums?
        if let gradients {
            let db_hh = slice(gradients, b_hh[l]!), db_xh = slice(gradients, b_xh[l])
            if t == lastStep {
                db_hh.buffer.fill(0, range: db_hh.offset..<db_hh.offset + GH)
                db_xh.buffer.fill(0, range: db_xh.offset..<db_xh.offset + GH)
                if l == 0 { W_xhT.fill(0) }
            }
            sums = CellGradientSums(db_hh: db_hh, db_xh: db_xh, inputGradient: l == 0
                ? (slice(W_xhT), architecture.vocabularySize, inputs, t - 1, T) : nil)
        }
        let dht = slice(dH, (t - 1) * BH), dhPrev: FloatSlice? = t > 1 ? slice(dH, (t - 2) * BH) : nil
        if recordNorms {
            CellKernels.rowNorms(dht.pointer(BH, "dh"), rows: B, H: H, into: hNorms.baseAddress + ((l * T) + t - 1) * B)
        }
        let da: FloatSlice
        switch architecture.cell {
        case .lstm:
            da = slice(xps[l], gateOffset)
            cells.lstmBackward(rows: B, hidden: H, dh: dht, dc: slice(dcCarry), gates: slice(gates[l], gateOffset),
                               cPrev: slice(cs[l], (t - 1) * BH), tanhC: slice(tanhCs[l], (t - 1) * BH), dxp: da,
                               sums: sums, cNorms: recordNorms ? cNorms.baseAddress + ((l * T) + t - 1) * B : nil)
        case .gru:
            da = slice(dhps, gateOffset)
            // Layer 0's dxp rows are needed only by the sums, which take them right here: they go
            // to the step buffer, not to memory (upper layers' feed two GEMMs after the loop).
            cells.gruBackward(rows: B, hidden: H, dh: dht, gates: slice(gates[l], gateOffset),
                              hn: slice(hns[l], (t - 1) * BH), hPrev: slice(hs[l], (t - 1) * BH),
                              dxp: l == 0 ? slice(hpStep) : slice(xps[l], gateOffset), dhp: da, dhPrev: dhPrev, sums: sums)
        case .rnn:
            return false
        }
        if let dhPrev {
            _ = packed.backward(da: da.buffer, daOffset: da.offset, rows: B, into: dhPrev.buffer, dhOffset: dhPrev.offset,
                                epilogue: .accumulate)
        }
        return true
    }
}
