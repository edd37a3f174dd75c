import BLAS
import Buffers

/// Forward pass and exact full BPTT for L stacked layers of rnn, lstm or gru cells with
/// non-recurrent dropout (DESIGN §2b), every buffer for (architecture, maxBatchSize, T)
/// allocated once in init; the calls allocate nothing.
///
/// Legend: B sequences of the call, T steps, H hidden width, V vocabulary, G gate blocks,
/// GH = G·H, L layers. Activations are time-major: step t holds the B rows contiguously.
/// Per layer, everything but the recurrence is one gemm over all T·B rows: layer 0's input
/// projection is a gather of W_xh.0 columns (one-hot input) or, with an embedding, a
/// [T·B, E]·[E, GH] gemm of the gathered embedding rows; upper layers' a [T·B, H]·[H, GH] gemm
/// of the layer below; dW_xh.l, dW_hh.l and the gradient to the layer below are gemms over T·B rows.
/// Only the recurrence is per step: h_{t−1}·W_hh^T → [B, GH] forward, dhp·W_hh → [B, H]
/// backward, with the cell's element-wise step. That step is the scalar's (RecurrentScalar):
/// Float on CRecurrence's packed kernels and C cells (FloatCellStep), Double the tests' Swift
/// reference on BLAS (Tests/RNNReference). Every model runs here, the one-layer tanh RNN of
/// DESIGN §2 included (its five file names are ModelLayout's naming only).
public final class StackedBPTTWorkspace<Scalar: RecurrentScalar> {
    public let architecture: ModelArchitecture
    public let layout: ModelLayout
    public let maxBatchSize: Int
    public let sequenceLength: Int

    // Offsets of each layer's tensors in the flat buffer (b_hh is nil for the legacy tanh RNN).
    package let W_xh: [Int], W_hh: [Int], b_xh: [Int], b_hh: [Int?]
    let W_hy: Int, b_y: Int
    /// The embedding table [V, E] (nil: one-hot input). With tied weights W_hy is this offset.
    let embedding: Int?
    /// The gradient's buckets (GradientReadiness): the output layer's tensors, final right after
    /// its backward; per layer, dW_hh.l's row blocks once its gemm is done (W_hhBlockCount),
    /// then the layer's other tensors — all while the layers below still run.
    /// Adjacent ranges are merged.
    let outputBuckets: [Range<Int>], W_hhBlocks: [[Range<Int>]], layerBuckets: [[Range<Int>]]
    /// All of them in the order forwardBackward finishes them (and tells its `readiness`): the
    /// output layer, then layers L−1 … 0.
    public let gradientBuckets: [Range<Int>]

    /// W_xh.0^T [V, GH]: row x is column x of W_xh.0, so the one-hot projection gathers
    /// contiguous rows. Refreshed per call. In backward it accumulates dW_xh.0^T. Empty with an
    /// embedding.
    let W_xhT: Buffer<Scalar>
    /// With an embedding, [T·B, E]: layer 0's input e_{t,b} = m[x]·embedding[x] (x the token,
    /// m the embedding-dropout mask or 1), time-major like every activation; then (backward)
    /// ∂L/∂e in dEmbedded [T·B, E], scatter-added into the token rows of ∂L/∂embedding.
    let embedded: Buffer<Scalar>, dEmbedded: Buffer<Scalar>
    /// [V]: the embedding-dropout mask of the step, one value per token (0 or 1/(1 − p)).
    let embeddingMask: Buffer<Scalar>
    /// Whether the last forward pass applied embedding dropout.
    var embeddingDropApplied = false
    /// Per layer, h_0 … h_T [(T+1)·B·H] (before dropout).
    package let hs: [Buffer<Scalar>]
    /// lstm, per layer: c_0 … c_T [(T+1)·B·H] and tanh(c_1 … c_T) [T·B·H].
    package let cs: [Buffer<Scalar>], tanhCs: [Buffer<Scalar>]
    /// lstm, gru, per layer: the activated gates [T·B·GH].
    package let gates: [Buffer<Scalar>]
    /// gru, per layer: hn = W_hn h_{t−1} + b_hn [T·B·H], which r multiplies.
    package let hns: [Buffer<Scalar>]
    /// Per layer [T·B·GH]: the input projection xp (forward), then dxp = ∂L/∂pre (backward).
    /// The Float step gathers layer 0's rows per step elsewhere (FloatCellStep), and lstm adds
    /// the recurrence product to the upper layers' in place.
    package let xps: [Buffer<Scalar>]
    /// gru [T·B·GH]: dhp = ∂L/∂(W_hh h + b_hh) of the layer being backpropagated.
    package let dhps: Buffer<Scalar>
    /// Per layer [T·B·H]: the dropout mask (0 or 1/(1−p)) and the dropped output h⊙mask.
    let masks: [Buffer<Scalar>], dropped: [Buffer<Scalar>]
    /// [T·B, V]: logits, then p (forward) or dy (forwardBackward), in place.
    let ys: Buffer<Scalar>
    /// [T·B, H]: ∂L/∂(output of the layer being backpropagated), then its total dh_t in place.
    package let dH: Buffer<Scalar>
    /// One step: the recurrence product [B, GH] (Float lstm, layer 0: xp_t + the product, see
    /// FloatCellStep); the gradients carried to step t−1 [B, H].
    package let hpStep: Buffer<Scalar>, dhCarry: Buffer<Scalar>, dcCarry: Buffer<Scalar>
    /// Float gru, layer 0: the step's gathered input rows xp_t [B, GH] (empty otherwise).
    let xpStep: Buffer<Scalar>
    /// [L, T, B] per-row ‖∂L/∂h‖ and ‖∂L/∂c‖ of the gradient-flow measurement.
    package let hNorms: Buffer<Double>, cNorms: Buffer<Double>
    let finalStateStorage: RecurrentState<Scalar>
    /// Whether the last forward pass applied dropout (the backward then applies the masks).
    var dropoutApplied = false
    /// Weight drop (DropConnect on W_hh, `Dropout.weightDrop`): the parameters with every
    /// W_hh.l masked, which the step reads instead, and the masks [L, G·H, H] that scale
    /// dW_hh.l by the same factors (W_eff = m ⊙ W, so ∂L/∂W = m ⊙ ∂L/∂W_eff). Allocated when
    /// the workspace is built for it.
    let weightDropStorage: (parameters: Buffer<Scalar>, masks: Buffer<Scalar>)?
    /// Whether the last forwardBackward used the weight-dropped parameters.
    var weightDropApplied = false
    /// The recurrence path of the Float step; the Double step runs BLAS.
    public let kernel: RecurrenceKernel
    /// The Float step's W_hh.l packed for the forward and the backward per-step products,
    /// refreshed for each layer before its step loop (one pair serves all layers: they run in
    /// turn); nil for Double.
    let packedW_hh: (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)?
    private var lastForwardBatchSize = 0

    /// dW_hh's buckets ([rows, columns]): up to 16 blocks of rows, of at least 16,384 elements
    /// (64 KB), so that the ring's messages are small enough for MPI to send them at once
    /// (eager) rather than after a handshake that needs the receiver's next progress call. The
    /// gradient itself stays ONE gemm: 16 gemms of H/16 rows repack the [T·B, H] operand each
    /// time and cost 16% of an H=512 step (4 gemms: 5%; measured), more than hiding W_hh's
    /// reduction behind its own gemm gains on any link but a slow one.
    static func W_hhBlockCount(rows: Int, columns: Int) -> Int { max(1, min(16, rows * columns / 16_384)) }

    /// kernel: the path of the Float step (the executable passes the one it chose at start).
    public init(architecture: ModelArchitecture, maxBatchSize: Int, sequenceLength: Int, kernel: RecurrenceKernel = .best,
                weightDrop: Bool = false) {
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
        weightDropStorage = weightDrop
            ? (Buffer(count: layout.count, repeating: 0), Buffer(count: L * GH * H, repeating: 0)) : nil
        W_xh = (0..<L).map { layout.range(of: .W_xh(layer: $0))!.lowerBound }
        W_hh = (0..<L).map { layout.range(of: .W_hh(layer: $0))!.lowerBound }
        b_xh = (0..<L).map { layout.range(of: .b_xh(layer: $0))!.lowerBound }
        b_hh = (0..<L).map { layout.range(of: .b_hh(layer: $0))?.lowerBound }
        W_hy = layout.range(of: .W_hy)!.lowerBound
        b_y = layout.range(of: .b_y)!.lowerBound
        embedding = layout.range(of: .embedding)?.lowerBound
        // A tied W_hy is the embedding, whose gradient is final only after layer 0's scatter-add.
        outputBuckets = layout.mergedRanges(architecture.tiedWeights ? [.b_y] : [.W_hy, .b_y])
        let W_hhBlocks: [[Range<Int>]] = (0..<L).map { l in
            let W_hh = layout.range(of: .W_hh(layer: l))!, blocks = Self.W_hhBlockCount(rows: GH, columns: H)
            return (0..<blocks).map { W_hh.lowerBound + H * (GH * $0 / blocks) ..< W_hh.lowerBound + H * (GH * ($0 + 1) / blocks) }
        }
        let layerBuckets = (0..<L).map {
            layout.mergedRanges(($0 == 0 ? [.embedding] : []) + [.W_xh(layer: $0), .b_xh(layer: $0), .b_hh(layer: $0)])
        }
        (self.W_hhBlocks, self.layerBuckets) = (W_hhBlocks, layerBuckets)
        gradientBuckets = outputBuckets + (0..<L).reversed().flatMap { W_hhBlocks[$0] + layerBuckets[$0] }

        func perLayer(_ count: Int, if present: Bool = true) -> [Buffer<Scalar>] {
            present ? (0..<L).map { _ in Buffer(count: count, repeating: 0) } : []
        }
        let E = architecture.embeddingSize ?? 0
        W_xhT = Buffer(count: E == 0 ? V * GH : 0, repeating: 0)
        embedded = Buffer(count: T * B * E, repeating: 0)
        dEmbedded = Buffer(count: T * B * E, repeating: 0)
        embeddingMask = Buffer(count: E == 0 ? 0 : V, repeating: 0)
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
        xpStep = Buffer(count: Scalar.stepGathersInput && cell == .gru ? B * GH : 0, repeating: 0)
        dhCarry = Buffer(count: B * H, repeating: 0)
        dcCarry = Buffer(count: B * H, repeating: 0)
        hNorms = Buffer(count: L * T * B, repeating: 0)
        cNorms = Buffer(count: L * T * B, repeating: 0)
        finalStateStorage = RecurrentState(architecture: architecture, capacity: B)
        self.kernel = kernel
        packedW_hh = Scalar.packedRecurrence(kernel: kernel, gates: cell.gateCount, hiddenSize: H)
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

    /// h_1 … h_T of layer l of each sequence after the last `forward`: [sequence][step][H], in
    /// Double (the spectral diagnostics' Jacobians). Allocates.
    public func hiddenStates(layer l: Int = 0) -> [[[Double]]] {
        let B = lastForwardBatchSize, H = architecture.hiddenSize
        return (0..<B).map { b in
            (1...sequenceLength).map { t in hs[l].toArray(range: (t * B + b) * H..<(t * B + b + 1) * H).map { Double($0) } }
        }
    }

    // MARK: - Forward

    /// Forward only: the summed loss over batchSize·T tokens; sets finalState. Evaluation and
    /// sampling pass no dropout; the gradient checks pass the draw of their forwardBackward.
    @_specialize(exported: true, where Scalar == Float)
    public func forward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize B: Int,
                        initialState: RecurrentState<Scalar>?, dropout: DropoutDraw? = nil) -> Double {
        let parameters = weightDropped(parameters, draw: dropout)
        forwardPass(parameters: parameters, inputs: inputs, batchSize: B, initialState: initialState, dropout: dropout)
        lastForwardBatchSize = B
        return lossPass(parameters: parameters, targets: targets, batchSize: B, dyScale: nil)
    }

    /// Layer l's output as the next layer (or the output layer) reads it: h_1 … h_T, after
    /// dropout when it was applied.
    func output(ofLayer l: Int, batchSize B: Int) -> (buffer: Buffer<Scalar>, offset: Int) {
        dropoutApplied ? (dropped[l], 0) : (hs[l], B * architecture.hiddenSize)
    }

    /// Whether layer l reads the one-hot token (layer 0 without an embedding): its projection
    /// is a gather of W_xh.0's columns, not a gemm.
    @inline(__always)
    package func readsOneHot(layer l: Int) -> Bool { l == 0 && embedding == nil }

    /// What layer l's projection gemm reads, [T·B, width] from offset: the embedded tokens
    /// (layer 0 with an embedding, width E) or the output of layer l−1 (width H).
    func input(ofLayer l: Int, batchSize B: Int) -> (buffer: Buffer<Scalar>, offset: Int, width: Int) {
        if l == 0 { return (embedded, 0, architecture.embeddingSize!) }
        let below = output(ofLayer: l - 1, batchSize: B)
        return (below.buffer, below.offset, architecture.hiddenSize)
    }

    /// embedded ← the token rows of the embedding table, each scaled by its embedding-dropout
    /// mask when the draw has one (one mask per step over the vocabulary, AWD-LSTM's
    /// embedded_dropout).
    func gatherEmbedding(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, batchSize B: Int, dropout draw: DropoutDraw?) {
        let E = architecture.embeddingSize!, V = architecture.vocabularySize, T = sequenceLength
        let table = parameters.baseAddress + embedding!, mask = embeddingMask.baseAddress
        embeddingDropApplied = (draw?.dropout.embeddingDrop ?? 0) > 0
        if embeddingDropApplied, let draw { draw.dropout.fillEmbeddingMask(mask, V: V, step: draw.step) }
        for t in 0..<T {
            for b in 0..<B {
                let x = Int(inputs[b * T + t])
                precondition(x >= 0 && x < V, "input token \(x) outside the vocabulary 0..<\(V)")
                let row = embedded.baseAddress + (t * B + b) * E, source = table + x * E
                if embeddingDropApplied {
                    let m = mask[x]
                    for j in 0..<E { row[j] = m * source[j] }
                } else {
                    row.update(from: source, count: E)
                }
            }
        }
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
        if let draw {
            precondition(draw.firstRow >= 0 && draw.sequenceIndices.count >= draw.firstRow + B,
                         "dropout: \(draw.sequenceIndices.count) sequence indices, need \(draw.firstRow + B)")
        }
        dropoutApplied = (draw?.dropout.probability ?? 0) > 0
        guard B > 0 else { return }
        let p = parameters.baseAddress

        for l in 0..<L {
            let xp = xps[l].baseAddress, h = hs[l].baseAddress
            // The input projection of all T·B rows: xp = W_xh.l x + b_xh.l.
            if readsOneHot(layer: l) {
                RNNKernels.transpose(p + W_xh[0], rows: GH, columns: V, into: W_xhT.baseAddress)
                // A step that gathers its own rows does so into cache-resident memory.
                for t in 0..<T where !Scalar.stepGathersInput {
                    RNNKernels.gatherInput(a: xp + t * B * GH, W_xhT: W_xhT.baseAddress, b_h: p + b_xh[0],
                                           tokens: inputs.baseAddress + t, tokenStride: T, batchSize: B, H: GH, V: V)
                }
            } else {
                if l == 0 { gatherEmbedding(parameters: parameters, inputs: inputs, batchSize: B, dropout: draw) }
                let below = input(ofLayer: l, batchSize: B)
                BLAS.gemm(.none, .transposed, m: T * B, n: GH, k: below.width, a: below.buffer, aOffset: below.offset,
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
            Scalar.prepareRecurrence(self, parameters: parameters, layer: l, product: .forward)
            for t in 1...T {
                Scalar.forwardStep(self, parameters: parameters, inputs: inputs, layer: l, step: t, batchSize: B)
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
                                             sequence: draw.sequenceIndices[draw.firstRow + b], layer: l, t: t)
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
