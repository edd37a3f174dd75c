import BLAS
import Buffers

extension StackedBPTTWorkspace {
    /// Forward pass + exact full BPTT over `batchSize` (0...maxBatchSize) sequences, through
    /// every layer and (lstm) the cell state.
    /// inputs/targets: token ids, batch-major: sequence b at [b·T, b·T+T).
    /// initialState: nil means h_0 = c_0 = 0 in every layer; else its rows 0..<batchSize.
    /// tokenCountForMean: dy_t = (p_t − onehot)/tokenCountForMean, the GLOBAL token count
    ///   (DESIGN §4).
    /// dropout: the masks of this step (nil or p = 0: none).
    /// gradients: overwritten with this batch's gradient in `layout` order.
    /// readiness: told as each of `gradientBuckets` becomes final, and at every step of the
    ///   recurrence backward (overlap of the allreduce with BPTT).
    /// Returns Σ over the batchSize·T tokens of −log p_t[target] (not divided).
    @_specialize(exported: true, where Scalar == Float)
    public func forwardBackward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>,
                                batchSize B: Int, initialState: RecurrentState<Scalar>?, tokenCountForMean: Int,
                                dropout: DropoutDraw? = nil, gradients: Buffer<Scalar>,
                                readiness: GradientReadiness? = nil) -> Double {
        let H = architecture.hiddenSize, V = architecture.vocabularySize, T = sequenceLength
        precondition(gradients.count == layout.count, "gradients: \(gradients.count) scalars, layout needs \(layout.count)")
        precondition(B == 0 || tokenCountForMean > 0, "tokenCountForMean must be positive")
        let parameters = weightDropped(parameters, draw: dropout)
        forwardPass(parameters: parameters, inputs: inputs, batchSize: B, initialState: initialState, dropout: dropout)
        guard B > 0 else {
            readiness?.forwardFinished()
            gradients.fill(0)
            for bucket in gradientBuckets { readiness?.gradientReady(bucket) }
            return 0
        }
        let loss = lossPass(parameters: parameters, targets: targets, batchSize: B,
                            dyScale: 1 / Scalar(tokenCountForMean))
        readiness?.forwardFinished()
        let rows = T * B, g = gradients.baseAddress

        // Output layer, all T·B rows at once: dW_hy = dY^T·top, db_y = Σ dy, dH = dY·W_hy.
        let top = output(ofLayer: architecture.layers - 1, batchSize: B)
        BLAS.gemm(.transposed, .none, m: V, n: H, k: rows, a: ys, b: top.buffer, bOffset: top.offset,
                  beta: 0, c: gradients, cOffset: W_hy)
        (g + b_y).update(repeating: 0, count: V)
        RNNKernels.addColumnSums(ys.baseAddress, rows: rows, columns: V, into: g + b_y)
        for bucket in outputBuckets { readiness?.gradientReady(bucket) }
        BLAS.gemm(.none, .none, m: rows, n: H, k: V, a: ys, b: parameters, bOffset: W_hy, beta: 0, c: dH)

        backwardLayers(parameters: parameters, inputs: inputs, batchSize: B, lastStep: T, gradients: gradients,
                       readiness: readiness)
        return loss
    }

    /// `parameters`, or with weight drop in `draw` the copy whose W_hh.l are masked (the masks
    /// kept for dW_hh.l). O(parameters) per call against O(T·B·parameters) of products.
    func weightDropped(_ parameters: Buffer<Scalar>, draw: DropoutDraw?) -> Buffer<Scalar> {
        guard let draw, draw.dropout.weightDrop > 0 else {
            weightDropApplied = false
            return parameters
        }
        guard let storage = weightDropStorage else {
            preconditionFailure("weight drop needs a workspace built with weightDrop: true")
        }
        let H = architecture.hiddenSize, GH = architecture.cell.gateCount * H
        storage.parameters.baseAddress.update(from: parameters.baseAddress, count: parameters.count)
        for l in 0..<architecture.layers {
            let mask = storage.masks.baseAddress + l * GH * H, weights = storage.parameters.baseAddress + W_hh[l]
            for row in 0..<GH { draw.dropout.fillWeightRow(mask + row * H, H: H, step: draw.step, layer: l, row: row) }
            CellKernels.multiply(weights, mask, into: weights, count: GH * H)
        }
        weightDropApplied = true
        return storage.parameters
    }

    /// BPTT through the layers, top to bottom, for steps 1…lastStep. On entry dH holds
    /// ∂L/∂(output of the top layer) for those steps. With gradients, writes every layer's
    /// weight and bias gradients; with recordNorms, writes hNorms (and cNorms) per layer, step
    /// and row instead.
    func backwardLayers(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, batchSize B: Int, lastStep: Int,
                        gradients: Buffer<Scalar>?, recordNorms: Bool = false, readiness: GradientReadiness? = nil) {
        let L = architecture.layers, H = architecture.hiddenSize, GH = architecture.cell.gateCount * H, BH = B * H
        for l in stride(from: L - 1, through: 0, by: -1) {
            let dh = dH.baseAddress
            // Through dropout: ∂L/∂h = mask ⊙ ∂L/∂(h⊙mask).
            if dropoutApplied { CellKernels.multiply(dh, masks[l].baseAddress, into: dh, count: lastStep * BH) }
            dcCarry.baseAddress.update(repeating: 0, count: BH)
            // The recurrence backward, t = lastStep…1: dh_t = dH_t + (what step t+1 sends back).
            Scalar.prepareRecurrence(self, parameters: parameters, layer: l, product: .backward)
            for t in stride(from: lastStep, through: 1, by: -1) {
                readiness?.backwardProgress()
                Scalar.backwardStep(self, parameters: parameters, inputs: inputs, layer: l, step: t, lastStep: lastStep,
                                    batchSize: B, gradients: gradients, recordNorms: recordNorms)
            }
            if let gradients {
                weightGradients(parameters: parameters, inputs: inputs, layer: l, batchSize: B, gradients: gradients,
                                readiness: readiness)
                for bucket in layerBuckets[l] { readiness?.gradientReady(bucket) }
            }
            // ∂L/∂(output of layer l−1) = dxp·W_xh.l, one gemm over the rows of steps 1…lastStep.
            if l > 0 {
                BLAS.gemm(.none, .none, m: lastStep * B, n: H, k: GH, a: xps[l], b: parameters, bOffset: W_xh[l],
                          beta: 0, c: dH)
            }
        }
    }

    /// dW_hh.l, db_hh.l, dW_xh.l, db_xh.l as gemms and column sums over all T·B rows (unless the
    /// step added the sums already, `stepSumsGradients`); dW_hh.l's row blocks are reported
    /// to `readiness` when its gemm is done.
    func weightGradients(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, layer l: Int, batchSize B: Int,
                         gradients: Buffer<Scalar>, readiness: GradientReadiness? = nil) {
        let H = architecture.hiddenSize, V = architecture.vocabularySize, T = sequenceLength
        let cell = architecture.cell, GH = cell.gateCount * H, rows = T * B, g = gradients.baseAddress
        let dhp = cell == .gru ? dhps : xps[l]
        // dW_hh = Σ_t dhp_t^T·h_{t−1} = dhp[1…T]^T · h[0…T−1] (slots 0…T−1 are contiguous).
        BLAS.gemm(.transposed, .none, m: GH, n: H, k: rows, a: dhp, b: hs[l], beta: 0, c: gradients, cOffset: W_hh[l])
        if weightDropApplied, let storage = weightDropStorage {
            CellKernels.multiply(g + W_hh[l], storage.masks.baseAddress + l * GH * H, into: g + W_hh[l], count: GH * H)
        }
        for block in W_hhBlocks[l] { readiness?.gradientReady(block) }
        // A step that sums (Float lstm, gru) added db_hh, db_xh and dW_xh.0^T step by step.
        let sumsLeft = !Scalar.stepSumsGradients(cell)
        if let b_hh = b_hh[l], sumsLeft {
            (g + b_hh).update(repeating: 0, count: GH)
            RNNKernels.addColumnSums(dhp.baseAddress, rows: rows, columns: GH, into: g + b_hh)
        }
        if sumsLeft { (g + b_xh[l]).update(repeating: 0, count: GH) }
        if readsOneHot(layer: l) {
            // dW_xh.0: scatter-add of the dxp rows into the token rows of dW_xh.0^T, then transpose.
            if sumsLeft {
                W_xhT.fill(0)
                RNNKernels.scatterInputGradient(da: xps[0].baseAddress, dW_xhT: W_xhT.baseAddress, db_h: g + b_xh[0],
                                                inputs: inputs.baseAddress, sequenceLength: T, batchSize: B, H: GH)
            }
            RNNKernels.transpose(W_xhT.baseAddress, rows: V, columns: GH, into: g + W_xh[0])
        } else {
            let below = input(ofLayer: l, batchSize: B)
            BLAS.gemm(.transposed, .none, m: GH, n: below.width, k: rows, a: xps[l], b: below.buffer, bOffset: below.offset,
                      beta: 0, c: gradients, cOffset: W_xh[l])
            if sumsLeft { RNNKernels.addColumnSums(xps[l].baseAddress, rows: rows, columns: GH, into: g + b_xh[l]) }
            if l == 0 { embeddingGradient(parameters: parameters, inputs: inputs, batchSize: B, gradients: gradients) }
        }
    }

    /// ∂L/∂embedding: ∂L/∂e = dxp·W_xh.0 [T·B, E] (one gemm), then each row scatter-added, times
    /// the token's embedding-dropout mask, into the row of its token, in the fixed order
    /// t = 0…T−1, b = 0…B−1. Untied, the rows start from 0; tied, they add to the output
    /// layer's dW_hy already there (the shared tensor's gradient is the sum of both uses).
    func embeddingGradient(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, batchSize B: Int, gradients: Buffer<Scalar>) {
        let E = architecture.embeddingSize!, V = architecture.vocabularySize, T = sequenceLength
        let GH = architecture.cell.gateCount * architecture.hiddenSize
        BLAS.gemm(.none, .none, m: T * B, n: E, k: GH, a: xps[0], b: parameters, bOffset: W_xh[0], beta: 0, c: dEmbedded)
        let table = gradients.baseAddress + embedding!, mask = embeddingMask.baseAddress
        if !architecture.tiedWeights { table.update(repeating: 0, count: V * E) }
        for t in 0..<T {
            for b in 0..<B {
                let x = Int(inputs[b * T + t]), row = dEmbedded.baseAddress + (t * B + b) * E, target = table + x * E
                if embeddingDropApplied {
                    let m = mask[x]
                    for j in 0..<E { target[j] += m * row[j] }
                } else {
                    CellKernels.add(row, into: target, count: E)
                }
            }
        }
    }
}
