import BLAS
import Buffers

/// The Float step of every cell on one recurrence kernel path (the workspace's `kernel`): the
/// packed per-step product h_{t−1}·W_hh^T (forward) and da·W_hh (backward), and the cell's
/// element-wise step in C — fused into the product's last pass for rnn, CRecurrence's cells.h
/// for lstm and gru. Both compute DESIGN §2b; the tests hold them to the Double reference.
///
/// Legend: B rows (sequences) of the step, H hidden width, GH = G·H, BH = B·H.
/// Forward, step t:
///   layer 0 gathers its input rows xp_t = W_xh.0[:, x] + b_xh.0 here, just before they are
///         used, into a step buffer (rnn: h_t's own slot; lstm hpStep, gru xpStep), instead of
///         all T·B rows [T·B, GH] at once (lstm at H = 512: 16 MB written to memory and read back);
///   rnn   h_t = tanh(xp_t + b_hh + h_{t−1}·W_hh^T), the tanh applied by the product's last pass;
///   lstm  pre = xp_t + h_{t−1}·W_hh^T accumulated in place (no product buffer to clear and
///         re-read), then the cell adds b_hh;
///   gru   hp = h_{t−1}·W_hh^T apart from xp (r multiplies hp_n + b_hn alone).
/// Backward, step t: dH_t holds ∂L/∂h_t from above; what step t+1 sends back is accumulated
/// onto it by the product (rnn: into the step's da row, then (1 − h²)⊙ in the same pass; lstm,
/// gru: straight into dH_{t−1}, with gru's direct path z⊙dh), so there is no carry buffer and no
/// pass to add it. The gated cell kernels also add the step's rows to db_hh, db_xh and (layer 0)
/// dW_xh.0^T while they are in L1, so `weightGradients` makes no pass over all T·B rows of dxp
/// for them (at H = 512 lstm, two 16 MB passes); it keeps the GEMMs.
extension Float: RecurrentScalar {
    public static func packedRecurrence(kernel: RecurrenceKernel, gates: Int, hiddenSize: Int)
        -> (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)? {
        (PackedRecurrentWeights(kernel: kernel, product: .forward, gates: gates, hiddenSize: hiddenSize),
         PackedRecurrentWeights(kernel: kernel, product: .backward, gates: gates, hiddenSize: hiddenSize))
    }

    public static var stepGathersInput: Bool { true }

    public static func stepSumsGradients(_ cell: CellKind) -> Bool { cell != .rnn }

    public static func prepareRecurrence(_ w: StackedBPTTWorkspace<Float>, parameters: Buffer<Float>, layer l: Int,
                                         product: PackedRecurrentWeights.Product) {
        let packed = w.packedW_hh!
        (product == .forward ? packed.forward : packed.backward).pack(parameters, offset: w.W_hh[l])
    }

    @inline(__always)
    public static func softmaxExp(_ x: Float) -> Float { RNNKernels.expApproximation(x) }

    @inline(__always)
    public static func forwardStep(_ w: StackedBPTTWorkspace<Float>, parameters: Buffer<Float>, inputs: Buffer<Int32>,
                                   layer l: Int, step t: Int, batchSize B: Int) {
        let H = w.architecture.hiddenSize, GH = w.architecture.cell.gateCount * H, BH = B * H
        let packed = w.packedW_hh!.forward, gateOffset = (t - 1) * B * GH
        let cells = GatedCellKernels(kernel: w.kernel), hs = w.hs[l]
        // Where xp_t goes: layer 0 gathers it now into a step buffer (rnn h_t's slot, which the
        // product turns into h_t; lstm's hpStep, in which the product accumulates), upper layers'
        // projection gemm wrote it into xps.
        // With an embedding, layer 0's projection is a gemm into xps like an upper layer's.
        let oneHot = w.readsOneHot(layer: l)
        let xp: FloatSlice
        switch w.architecture.cell {
        case .rnn: xp = !oneHot ? FloatSlice(w.xps[l], at: gateOffset) : FloatSlice(hs, at: t * BH)
        case .lstm: xp = !oneHot ? FloatSlice(w.xps[l], at: gateOffset) : FloatSlice(w.hpStep)
        case .gru: xp = !oneHot ? FloatSlice(w.xps[l], at: gateOffset) : FloatSlice(w.xpStep)
        }
        if oneHot {
            RNNKernels.gatherInput(a: xp.pointer(B * GH, "xp"), W_xhT: w.W_xhT.baseAddress,
                                   b_h: FloatSlice(parameters, at: w.b_xh[0]).pointer(GH, "b_xh"),
                                   tokens: inputs.baseAddress + t - 1, tokenStride: w.sequenceLength, batchSize: B,
                                   H: GH, V: w.architecture.vocabularySize)
        }
        switch w.architecture.cell {
        case .rnn:
            let a = hs.baseAddress + t * BH
            if !oneHot { a.update(from: xp.pointer(BH, "xp"), count: BH) }
            if let b_hh = w.b_hh[l] { CellKernels.addRowBias(a, bias: parameters.baseAddress + b_hh, rows: B, columns: H) }
            packed.forward(h: hs, hOffset: (t - 1) * BH, rows: B, into: hs, aOffset: t * BH, epilogue: .tanh)
        case .lstm:
            packed.forward(h: hs, hOffset: (t - 1) * BH, rows: B, into: xp.buffer, aOffset: xp.offset, epilogue: .accumulate)
            cells.lstmForward(rows: B, hidden: H, pre: xp, b_hh: FloatSlice(parameters, at: w.b_hh[l]!),
                              cPrev: FloatSlice(w.cs[l], at: (t - 1) * BH), gates: FloatSlice(w.gates[l], at: gateOffset),
                              c: FloatSlice(w.cs[l], at: t * BH), tanhC: FloatSlice(w.tanhCs[l], at: (t - 1) * BH),
                              h: FloatSlice(hs, at: t * BH))
        case .gru:
            let hp = FloatSlice(w.hpStep)
            hp.buffer.baseAddress.update(repeating: 0, count: B * GH)
            packed.forward(h: hs, hOffset: (t - 1) * BH, rows: B, into: hp.buffer, aOffset: 0, epilogue: .accumulate)
            cells.gruForward(rows: B, hidden: H, xp: xp, hp: hp, b_hh: FloatSlice(parameters, at: w.b_hh[l]!),
                             hPrev: FloatSlice(hs, at: (t - 1) * BH), gates: FloatSlice(w.gates[l], at: gateOffset),
                             hn: FloatSlice(w.hns[l], at: (t - 1) * BH), h: FloatSlice(hs, at: t * BH))
        }
    }

    @inline(__always)
    public static func backwardStep(_ w: StackedBPTTWorkspace<Float>, parameters: Buffer<Float>, inputs: Buffer<Int32>,
                                    layer l: Int, step t: Int, lastStep: Int, batchSize B: Int, gradients: Buffer<Float>?,
                                    recordNorms: Bool) {
        let H = w.architecture.hiddenSize, T = w.sequenceLength, GH = w.architecture.cell.gateCount * H, BH = B * H
        let packed = w.packedW_hh!.backward, gateOffset = (t - 1) * B * GH
        let norms = recordNorms ? w.hNorms.baseAddress + ((l * T) + t - 1) * B : nil
        let dht = FloatSlice(w.dH, at: (t - 1) * BH)
        switch w.architecture.cell {
        case .rnn:
            // da_t = (1 − h_t²) ⊙ (dH_t + da_{t+1}·W_hh), in the step's row of xps.
            let da = w.xps[l], h = w.hs[l]
            (da.baseAddress + gateOffset).update(from: dht.pointer(BH, "dh"), count: BH)
            if t < lastStep, norms == nil {
                _ = packed.backward(da: da, daOffset: t * BH, rows: B, into: da, dhOffset: gateOffset,
                                    epilogue: .tanhDerivative(hidden: h, offset: t * BH))
                return
            }
            // The last step has nothing to accumulate; the measurement needs ∂L/∂h_t before (1 − h²).
            if t < lastStep {
                _ = packed.backward(da: da, daOffset: t * BH, rows: B, into: da, dhOffset: gateOffset, epilogue: .accumulate)
            }
            if let norms { CellKernels.rowNorms(da.baseAddress + gateOffset, rows: B, H: H, into: norms) }
            packed.tanhDerivative(dh: da, dhOffset: gateOffset, rows: B, hidden: h, offset: t * BH)
        case .lstm, .gru:
            gatedBackwardStep(w, inputs: inputs, layer: l, step: t, lastStep: lastStep, batchSize: B, gradients: gradients,
                              norms: norms)
        }
    }

    /// The lstm and gru backward step (see backwardStep).
    @inline(__always)
    private static func gatedBackwardStep(_ w: StackedBPTTWorkspace<Float>, inputs: Buffer<Int32>, layer l: Int, step t: Int,
                                          lastStep: Int, batchSize B: Int, gradients: Buffer<Float>?,
                                          norms: UnsafeMutablePointer<Double>?) {
        let H = w.architecture.hiddenSize, T = w.sequenceLength, GH = w.architecture.cell.gateCount * H, BH = B * H
        let packed = w.packedW_hh!.backward, gateOffset = (t - 1) * B * GH
        let dht = FloatSlice(w.dH, at: (t - 1) * BH)
        let cells = GatedCellKernels(kernel: w.kernel)
        var sums: CellGradientSums?
        let oneHot = w.readsOneHot(layer: l)
        if let gradients {
            let db_hh = FloatSlice(gradients, at: w.b_hh[l]!), db_xh = FloatSlice(gradients, at: w.b_xh[l])
            if t == lastStep {
                db_hh.buffer.fill(0, range: db_hh.offset..<db_hh.offset + GH)
                db_xh.buffer.fill(0, range: db_xh.offset..<db_xh.offset + GH)
                if oneHot { w.W_xhT.fill(0) }
            }
            sums = CellGradientSums(db_hh: db_hh, db_xh: db_xh, inputGradient: oneHot
                ? (FloatSlice(w.W_xhT), w.architecture.vocabularySize, inputs, t - 1, T) : nil)
        }
        let dhPrev: FloatSlice? = t > 1 ? FloatSlice(w.dH, at: (t - 2) * BH) : nil
        if let norms { CellKernels.rowNorms(dht.pointer(BH, "dh"), rows: B, H: H, into: norms) }
        let da: FloatSlice
        if w.architecture.cell == .lstm {
            da = FloatSlice(w.xps[l], at: gateOffset)
            cells.lstmBackward(rows: B, hidden: H, dh: dht, dc: FloatSlice(w.dcCarry),
                               gates: FloatSlice(w.gates[l], at: gateOffset), cPrev: FloatSlice(w.cs[l], at: (t - 1) * BH),
                               tanhC: FloatSlice(w.tanhCs[l], at: (t - 1) * BH), dxp: da, sums: sums,
                               cNorms: norms == nil ? nil : w.cNorms.baseAddress + ((l * T) + t - 1) * B)
        } else {
            da = FloatSlice(w.dhps, at: gateOffset)
            // The one-hot layer's dxp rows are needed only by the sums, which take them right
            // here: they go to the step buffer, not to memory (the other layers' feed two GEMMs
            // after the loop).
            cells.gruBackward(rows: B, hidden: H, dh: dht, gates: FloatSlice(w.gates[l], at: gateOffset),
                              hn: FloatSlice(w.hns[l], at: (t - 1) * BH), hPrev: FloatSlice(w.hs[l], at: (t - 1) * BH),
                              dxp: oneHot ? FloatSlice(w.hpStep) : FloatSlice(w.xps[l], at: gateOffset), dhp: da,
                              dhPrev: dhPrev, sums: sums)
        }
        if let dhPrev {
            _ = packed.backward(da: da.buffer, daOffset: da.offset, rows: B, into: dhPrev.buffer, dhOffset: dhPrev.offset,
                                epilogue: .accumulate)
        }
    }
}
