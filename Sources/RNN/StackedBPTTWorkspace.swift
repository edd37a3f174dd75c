import BLAS
import Buffers

/// Forward pass and exact full BPTT for L stacked layers of rnn, lstm or gru cells with
/// non-recurrent dropout (DESIGN §2b), every buffer for (architecture, maxBatchSize, T)
/// allocated once in init; the calls allocate nothing.
///
/// Legend: B sequences of the call, T steps, H hidden width, V vocabulary, G gate blocks,
/// GH = G·H, L layers. Activations are time-major: step t holds the B rows contiguously.
/// Per layer, everything but the recurrence is one gemm over all T·B rows: layer 0's input
/// projection is a gather of W_xh.0 columns, upper layers' a [T·B, H]·[H, GH] gemm of the
/// layer below; dW_xh.l, dW_hh.l and the gradient to the layer below are gemms over T·B rows.
/// Only the recurrence is per step: h_{t−1}·W_hh^T → [B, GH] forward, dhp·W_hh → [B, H]
/// backward (`recurrenceForward` / `recurrenceBackward`): in Float on the packed recurrence
/// kernel (issue 11, accumulate epilogue; the cell kernels apply the gates), in Double on BLAS.
///
/// `architecture == ModelArchitecture(shape:)` (rnn, L = 1) computes exactly BPTTWorkspace's
/// numbers on the same five-tensor buffer.
public final class StackedBPTTWorkspace<Scalar: BLASScalar> {
    public let architecture: ModelArchitecture
    public let layout: ModelLayout
    public let maxBatchSize: Int
    public let sequenceLength: Int

    // Offsets of each layer's tensors in the flat buffer (b_hh is nil for the legacy tanh RNN).
    let W_xh: [Int], W_hh: [Int], b_xh: [Int], b_hh: [Int?]
    let W_hy: Int, b_y: Int
    /// The gradient's buckets (GradientReadiness): the output layer's tensors, final right after
    /// its backward; per layer, dW_hh.l's row blocks once its gemm is done (as BPTTWorkspace
    /// cuts dW_hh), then the layer's other tensors — all while the layers below still run.
    /// Adjacent ranges are merged.
    let outputBuckets: [Range<Int>], W_hhBlocks: [[Range<Int>]], layerBuckets: [[Range<Int>]]
    /// All of them in the order forwardBackward finishes them (and tells its `readiness`): the
    /// output layer, then layers L−1 … 0.
    public let gradientBuckets: [Range<Int>]

    /// W_xh.0^T [V, GH]: row x is column x of W_xh.0, so the one-hot projection gathers
    /// contiguous rows. Refreshed per call. In backward it accumulates dW_xh.0^T.
    let W_xhT: Buffer<Scalar>
    /// Per layer, h_0 … h_T [(T+1)·B·H] (before dropout).
    let hs: [Buffer<Scalar>]
    /// lstm, per layer: c_0 … c_T [(T+1)·B·H] and tanh(c_1 … c_T) [T·B·H].
    let cs: [Buffer<Scalar>], tanhCs: [Buffer<Scalar>]
    /// lstm, gru, per layer: the activated gates [T·B·GH].
    let gates: [Buffer<Scalar>]
    /// gru, per layer: hn = W_hn h_{t−1} + b_hn [T·B·H], which r multiplies.
    let hns: [Buffer<Scalar>]
    /// Per layer [T·B·GH]: the input projection xp (forward), then dxp = ∂L/∂pre (backward).
    /// The Float gated steps (+GatedSteps) gather layer 0's rows per step elsewhere, and lstm
    /// adds the recurrence product to the upper layers' in place.
    let xps: [Buffer<Scalar>]
    /// gru [T·B·GH]: dhp = ∂L/∂(W_hh h + b_hh) of the layer being backpropagated.
    let dhps: Buffer<Scalar>
    /// Per layer [T·B·H]: the dropout mask (0 or 1/(1−p)) and the dropped output h⊙mask.
    let masks: [Buffer<Scalar>], dropped: [Buffer<Scalar>]
    /// [T·B, V]: logits, then p (forward) or dy (forwardBackward), in place.
    let ys: Buffer<Scalar>
    /// [T·B, H]: ∂L/∂(output of the layer being backpropagated), then its total dh_t in place.
    let dH: Buffer<Scalar>
    /// One step: the recurrence product [B, GH] (Float lstm, layer 0: xp_t + the product, see
    /// +GatedSteps); the gradients carried to step t−1 [B, H].
    let hpStep: Buffer<Scalar>, dhCarry: Buffer<Scalar>, dcCarry: Buffer<Scalar>
    /// Float gru, layer 0: the step's gathered input rows xp_t [B, GH] (empty otherwise).
    let xpStep: Buffer<Scalar>
    /// [L, T, B] per-row ‖∂L/∂h‖ and ‖∂L/∂c‖ of the gradient-flow measurement.
    let hNorms: Buffer<Double>, cNorms: Buffer<Double>
    let finalStateStorage: RecurrentState<Scalar>
    /// Whether the last forward pass applied dropout (the backward then applies the masks).
    var dropoutApplied = false
    /// The recurrence path for Float; Double (gradient checks) always runs the BLAS.
    public let kernel: RecurrenceKernel
    /// Float only: W_hh.l packed for the forward and the backward per-step products, refreshed
    /// for each layer before its step loop (one pair serves all layers: they run in turn).
    let packedW_hh: (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)?
    private var lastForwardBatchSize = 0

    public init(architecture: ModelArchitecture, maxBatchSize: Int, sequenceLength: Int, kernel: RecurrenceKernel = .default) {
        precondition(maxBatchSize >= 0 && sequenceLength > 0,
                     "StackedBPTTWorkspace needs maxBatchSize >= 0 and sequenceLength > 0")
        self.architecture = architecture
        self.maxBatchSize = maxBatchSize
        self.sequenceLength = sequenceLength
        let layout = ModelLayout(architecture: architecture)
        self.layout = layout
        let L = architecture.layers, H = architecture.hiddenSize, V = architecture.vocabularySize
        let GH = architecture.cell.gateCount * H, T = sequenceLength, B = maxBatchSize
        let cell = architecture.cell
        W_xh = (0..<L).map { layout.range(of: .W_xh(layer: $0))!.lowerBound }
        W_hh = (0..<L).map { layout.range(of: .W_hh(layer: $0))!.lowerBound }
        b_xh = (0..<L).map { layout.range(of: .b_xh(layer: $0))!.lowerBound }
        b_hh = (0..<L).map { layout.range(of: .b_hh(layer: $0))?.lowerBound }
        W_hy = layout.range(of: .W_hy)!.lowerBound
        b_y = layout.range(of: .b_y)!.lowerBound
        outputBuckets = layout.mergedRanges([.W_hy, .b_y])
        let W_hhBlocks: [[Range<Int>]] = (0..<L).map { l in
            let W_hh = layout.range(of: .W_hh(layer: l))!, blocks = BPTTWorkspace<Scalar>.W_hhBlockCount(rows: GH, columns: H)
            return (0..<blocks).map { W_hh.lowerBound + H * (GH * $0 / blocks) ..< W_hh.lowerBound + H * (GH * ($0 + 1) / blocks) }
        }
        let layerBuckets = (0..<L).map { layout.mergedRanges([.W_xh(layer: $0), .b_xh(layer: $0), .b_hh(layer: $0)]) }
        (self.W_hhBlocks, self.layerBuckets) = (W_hhBlocks, layerBuckets)
        gradientBuckets = outputBuckets + (0..<L).reversed().flatMap { W_hhBlocks[$0] + layerBuckets[$0] }

        func perLayer(_ count: Int, if present: Bool = true) -> [Buffer<Scalar>] {
            present ? (0..<L).map { _ in Buffer(count: count, repeating: 0) } : []
        }
        W_xhT = Buffer(count: V * GH, repeating: 0)
        hs = perLayer((T + 1) * B * H)
        cs = perLayer((T + 1) * B * H, if: cell == .lstm)
        tanhCs = perLayer(T * B * H, if: cell == .lstm)
        gates = perLayer(T * B * GH, if: cell != .rnn)
        hns = perLayer(T * B * H, if: cell == .gru)
        xps = perLayer(T * B * GH)
        dhps = Buffer(count: cell == .gru ? T * B * GH : 0, repeating: 0)
        masks = perLayer(T * B * H)
        dropped = perLayer(T * B * H)
        ys = Buffer(count: T * B * V, repeating: 0)
        dH = Buffer(count: T * B * H, repeating: 0)
        hpStep = Buffer(count: B * GH, repeating: 0)
        xpStep = Buffer(count: Scalar.self == Float.self && cell == .gru ? B * GH : 0, repeating: 0)
        dhCarry = Buffer(count: B * H, repeating: 0)
        dcCarry = Buffer(count: B * H, repeating: 0)
        hNorms = Buffer(count: L * T * B, repeating: 0)
        cNorms = Buffer(count: L * T * B, repeating: 0)
        finalStateStorage = RecurrentState(architecture: architecture, capacity: B)
        self.kernel = kernel
        packedW_hh = Scalar.self == Float.self
            ? (PackedRecurrentWeights(kernel: kernel, product: .forward, gates: cell.gateCount, hiddenSize: H),
               PackedRecurrentWeights(kernel: kernel, product: .backward, gates: cell.gateCount, hiddenSize: H))
            : nil
    }

    /// (h_T, c_T) of every layer after the last call, rows 0..<batchSize valid; pass it (or a
    /// copy) as the next chunk's initialState to carry the state (truncated BPTT).
    public var finalState: RecurrentState<Scalar> { finalStateStorage }

    /// p_t of sequence b after the last `forward`. For tests and diagnostics; allocates.
    public func probabilities(step t: Int, sequence b: Int) -> [Scalar] {
        precondition(t >= 0 && t < sequenceLength && b >= 0 && b < lastForwardBatchSize,
                     "probabilities(step:sequence:) after a forward of that batch only")
        let V = architecture.vocabularySize, row = (t * lastForwardBatchSize + b) * V
        return ys.toArray(range: row..<row + V)
    }

    // MARK: - Forward

    /// Forward only: the summed loss over batchSize·T tokens; sets finalState. Evaluation and
    /// sampling pass no dropout; the gradient checks pass the draw of their forwardBackward.
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public func forward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize B: Int,
                        initialState: RecurrentState<Scalar>?, dropout: DropoutDraw? = nil) -> Double {
        forwardPass(parameters: parameters, inputs: inputs, batchSize: B, initialState: initialState, dropout: dropout)
        lastForwardBatchSize = B
        return lossPass(parameters: parameters, targets: targets, batchSize: B, dyScale: nil)
    }

    /// Layer l's output as the next layer (or the output layer) reads it: h_1 … h_T, after
    /// dropout when it was applied.
    func output(ofLayer l: Int, batchSize B: Int) -> (buffer: Buffer<Scalar>, offset: Int) {
        dropoutApplied ? (dropped[l], 0) : (hs[l], B * architecture.hiddenSize)
    }

    /// Every layer's h_t (and c_t, gates) for t = 1…T, then the logits (without b_y) in `ys`.
    func forwardPass(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, batchSize B: Int,
                     initialState: RecurrentState<Scalar>?, dropout draw: DropoutDraw?) {
        let L = architecture.layers, H = architecture.hiddenSize, V = architecture.vocabularySize
        let cell = architecture.cell, GH = cell.gateCount * H, T = sequenceLength, BH = B * H
        precondition(B >= 0 && B <= maxBatchSize, "batchSize \(B) outside 0...\(maxBatchSize)")
        precondition(parameters.count == layout.count, "parameters: \(parameters.count) scalars, layout needs \(layout.count)")
        precondition(inputs.count >= B * T, "inputs hold \(inputs.count) tokens, need \(B * T)")
        if let initialState {
            precondition(initialState.layers == L && initialState.hiddenSize == H && initialState.capacity >= B
                         && (initialState.c != nil) == cell.hasCellState, "initialState does not fit the model and batch")
        }
        if let draw { precondition(draw.sequenceIndices.count >= B, "dropout: \(draw.sequenceIndices.count) sequence indices, need \(B)") }
        dropoutApplied = (draw?.dropout.probability ?? 0) > 0
        guard B > 0 else { return }
        let p = parameters.baseAddress

        for l in 0..<L {
            let xp = xps[l].baseAddress, h = hs[l].baseAddress
            // The input projection of all T·B rows: xp = W_xh.l x + b_xh.l.
            if l == 0 {
                RNNKernels.transpose(p + W_xh[0], rows: GH, columns: V, into: W_xhT.baseAddress)
                // The gated steps gather each step's rows themselves, into cache-resident memory.
                for t in 0..<T where !runsGatedSteps {
                    RNNKernels.gatherInput(a: xp + t * B * GH, W_xhT: W_xhT.baseAddress, b_h: p + b_xh[0],
                                           tokens: inputs.baseAddress + t, tokenStride: T, batchSize: B, H: GH, V: V)
                }
            } else {
                let below = output(ofLayer: l - 1, batchSize: B)
                BLAS.gemm(.none, .transposed, m: T * B, n: GH, k: H, a: below.buffer, aOffset: below.offset,
                          b: parameters, bOffset: W_xh[l], beta: 0, c: xps[l])
                CellKernels.addRowBias(xp, bias: p + b_xh[l], rows: T * B, columns: GH)
            }
            // h_0, c_0.
            if let initialState {
                h.update(from: initialState.h.baseAddress + initialState.offset(layer: l, row: 0), count: BH)
                if let c0 = initialState.c { cs[l].baseAddress.update(from: c0.baseAddress + initialState.offset(layer: l, row: 0), count: BH) }
            } else {
                h.update(repeating: 0, count: BH)
                if cell == .lstm { cs[l].baseAddress.update(repeating: 0, count: BH) }
            }
            // The recurrence, the only per-step part.
            packRecurrence(parameters: parameters, layer: l, product: .forward)
            for t in 1...T {
                if gatedForwardStep(parameters: parameters, inputs: inputs, layer: l, step: t, batchSize: B) { continue }
                recurrenceForward(parameters: parameters, layer: l, hOffset: (t - 1) * BH, batchSize: B)
                let xpt = xp + (t - 1) * B * GH, hp = UnsafePointer(hpStep.baseAddress)
                switch cell {
                case .rnn:
                    CellKernels.rnnForward(xp: xpt, hp: hp, b_hh: b_hh[l].map { UnsafePointer(p + $0) },
                                           h: h + t * BH, rows: B, H: H)
                case .lstm:
                    CellKernels.lstmForward(xp: xpt, hp: hp, b_hh: p + b_hh[l]!, cPrev: cs[l].baseAddress + (t - 1) * BH,
                                            gates: gates[l].baseAddress + (t - 1) * B * GH, c: cs[l].baseAddress + t * BH,
                                            tanhC: tanhCs[l].baseAddress + (t - 1) * BH, h: h + t * BH, rows: B, H: H)
                case .gru:
                    CellKernels.gruForward(xp: xpt, hp: hp, b_hh: p + b_hh[l]!, hPrev: h + (t - 1) * BH,
                                           gates: gates[l].baseAddress + (t - 1) * B * GH,
                                           hn: hns[l].baseAddress + (t - 1) * BH, h: h + t * BH, rows: B, H: H)
                }
            }
            let final = finalStateStorage.offset(layer: l, row: 0)
            (finalStateStorage.h.baseAddress + final).update(from: h + T * BH, count: BH)
            if let c = finalStateStorage.c { (c.baseAddress + final).update(from: cs[l].baseAddress + T * BH, count: BH) }
            // Dropout on this layer's output (the next layer's input, or the output layer's).
            if dropoutApplied, let draw {
                let mask = masks[l].baseAddress
                for t in 0..<T {
                    for b in 0..<B {
                        draw.dropout.fillRow(mask + (t * B + b) * H, H: H, step: draw.step,
                                             sequence: draw.sequenceIndices[b], layer: l, t: t)
                    }
                }
                CellKernels.multiply(h + BH, mask, into: dropped[l].baseAddress, count: T * BH)
            }
        }
        // Output projection of all T·B rows (b_y is added in the softmax pass).
        let top = output(ofLayer: L - 1, batchSize: B)
        BLAS.gemm(.none, .transposed, m: T * B, n: V, k: H, a: top.buffer, aOffset: top.offset,
                  b: parameters, bOffset: W_hy, beta: 0, c: ys)
    }

    /// The per-step recurrence product hpStep [B, GH] = h_{t−1}·W_hh.l^T (b_hh is added by the
    /// cell kernel). Float: the packed kernel (W_hh.l packed by `packRecurrence`); Double: BLAS.
    @inline(__always)
    func recurrenceForward(parameters: Buffer<Scalar>, layer l: Int, hOffset: Int, batchSize B: Int) {
        let H = architecture.hiddenSize, GH = architecture.cell.gateCount * H
        if let packed = packedW_hh?.forward, let hs = hs[l] as? Buffer<Float>, let hpStep = hpStep as? Buffer<Float> {
            // The kernel accumulates (the gates are applied by the cell kernel afterwards).
            hpStep.baseAddress.update(repeating: 0, count: B * GH)
            packed.forward(h: hs, hOffset: hOffset, rows: B, into: hpStep, aOffset: 0, epilogue: .accumulate)
            return
        }
        BLAS.gemm(.none, .transposed, m: B, n: GH, k: H, a: hs[l], aOffset: hOffset,
                  b: parameters, bOffset: W_hh[l], beta: 0, c: hpStep)
    }

    /// Packs W_hh.l for `product`'s per-step kernel (Float; nothing in Double). O(G·H²) per
    /// layer and call against O(T·B·G·H²) of products.
    func packRecurrence(parameters: Buffer<Scalar>, layer l: Int, product: PackedRecurrentWeights.Product) {
        guard let packedW_hh, let p = parameters as? Buffer<Float> else { return }
        (product == .forward ? packedW_hh.forward : packedW_hh.backward).pack(p, offset: W_hh[l])
    }

    /// Softmax + cross-entropy of every row; returns Σ −log p[target]. With dyScale, rows
    /// become dy = (p − onehot)·dyScale, else p.
    func lossPass(parameters: Buffer<Scalar>, targets: Buffer<Int32>, batchSize B: Int, dyScale: Scalar?) -> Double {
        let V = architecture.vocabularySize, T = sequenceLength
        precondition(targets.count >= B * T, "targets hold \(targets.count) tokens, need \(B * T)")
        let by = parameters.baseAddress + b_y
        var loss = 0.0
        for t in 0..<T {
            for b in 0..<B {
                let target = Int(targets[b * T + t])
                precondition(target >= 0 && target < V, "target token \(target) outside the vocabulary 0..<\(V)")
                loss += Double(RNNKernels.softmaxCrossEntropy(y: ys.baseAddress + (t * B + b) * V, b_y: by,
                                                              target: target, V: V, dyScale: dyScale))
            }
        }
        return loss
    }
}
