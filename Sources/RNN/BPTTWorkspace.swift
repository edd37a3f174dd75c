import BLAS
import Buffers

/// Forward pass and exact full BPTT for a vanilla tanh RNN (docs/design.md §2), with every buffer
/// for (maxBatchSize, T, H, V) allocated once in init; the calls allocate nothing.
///
/// Activations are time-major: step t holds the batch's B rows contiguously, so each step of
/// the recurrence is one [B,H]·[H,H] gemm, and everything that is not the recurrence — the
/// output projection, softmax, dW_hy, dH_out, dW_hh, dW_xh — runs once over all T·B rows.
/// Row strides follow the call's batchSize, so the T·B rows are packed for any batchSize.
/// In Float the per-step products run on CRecurrence's microkernels (W_hh packed once per
/// call, tanh fused); Double keeps the BLAS, so the gradient checks stay independent of them.
public final class BPTTWorkspace<Scalar: BLASScalar> {
    public let shape: RNNShape
    public let maxBatchSize: Int
    public let sequenceLength: Int
    let layout: ParameterLayout
    /// Ranges of the flat gradient in the order forwardBackward finishes them (and tells its
    /// `readiness`): the output layer's right after its backward, before the recurrence runs;
    /// then W_hh; then W_xh and b_h.
    public let gradientBuckets: [Range<Int>]
    /// dW_hh in blocks of whole rows (each a bucket).
    let W_hhBlocks: [Range<Int>]

    /// W_xh^T [V, H]: row x is column x of W_xh, so the one-hot input projection gathers
    /// contiguous rows. Refreshed per call (O(VH)). In backward it accumulates dW_xh^T.
    let W_xhT: Buffer<Scalar>
    /// h_0 … h_T: slot t (batchSize·H scalars) at t·batchSize·H. During forward a slot holds
    /// a_t until tanh overwrites it.
    let hs: Buffer<Scalar>
    /// [T·B, V]: logits y, then probabilities p (forward) or dy (forwardBackward), in place.
    let ys: Buffer<Scalar>
    /// [T·B, H]: dH_out = dY·W_hy, then dh_t, then da_t, in place.
    let dhs: Buffer<Scalar>
    /// Σ over the batch of ‖dh_t‖, per step, from the last forwardBackward.
    let dhNormSums: Buffer<Double>
    let finalHiddenStorage: Buffer<Scalar>
    /// The path of the Float recurrence (unused by Double).
    public let kernel: RecurrenceKernel
    /// Float only: W_hh packed for the forward and the backward per-step products.
    let packedW_hh: (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)?
    private var lastBatchSize = 0
    private var lastForwardBatchSize = 0

    /// dW_hh's buckets ([rows, columns]): up to 16 blocks of rows, of at least 16,384 elements
    /// (64 KB), so that the ring's messages are small enough for MPI to send them at once
    /// (eager) rather than after a handshake that needs the receiver's next progress call. The
    /// gradient itself stays ONE gemm: 16 gemms of H/16 rows repack the [T·B, H] operand each
    /// time and cost 16% of an H=512 step (4 gemms: 5%; measured), more than hiding W_hh's
    /// reduction behind its own gemm gains on any link but a slow one.
    static func W_hhBlockCount(rows: Int, columns: Int) -> Int { max(1, min(16, rows * columns / 16_384)) }

    /// kernel: the recurrence path for Float; the default is RNN_DIST_KERNEL's or the best
    /// this CPU supports (see RecurrenceKernel.default).

    public init(shape: RNNShape, maxBatchSize: Int, sequenceLength: Int, kernel: RecurrenceKernel = .default) {
        precondition(maxBatchSize >= 0 && sequenceLength > 0,
                     "BPTTWorkspace needs maxBatchSize >= 0 and sequenceLength > 0")
        self.shape = shape
        self.maxBatchSize = maxBatchSize
        self.sequenceLength = sequenceLength
        let layout = ParameterLayout(shape: shape)
        self.layout = layout
        let H = shape.hiddenSize, V = shape.vocabularySize, T = sequenceLength, B = maxBatchSize
        let W_hh = layout.range(of: .W_hh), blocks = Self.W_hhBlockCount(rows: H, columns: H)
        W_hhBlocks = (0..<blocks).map { W_hh.lowerBound + H * (H * $0 / blocks) ..< W_hh.lowerBound + H * (H * ($0 + 1) / blocks) }
        gradientBuckets = [layout.range(of: .W_hy), layout.range(of: .b_y)] + W_hhBlocks
            + [layout.range(of: .W_xh), layout.range(of: .b_h)]
        W_xhT = Buffer(count: V * H, repeating: 0)
        hs = Buffer(count: (T + 1) * B * H, repeating: 0)
        ys = Buffer(count: T * B * V, repeating: 0)
        dhs = Buffer(count: T * B * H, repeating: 0)
        dhNormSums = Buffer(count: T, repeating: 0)
        finalHiddenStorage = Buffer(count: B * H, repeating: 0)
        self.kernel = kernel
        packedW_hh = Scalar.self == Float.self
            ? (PackedRecurrentWeights(kernel: kernel, product: .forward, gates: 1, hiddenSize: H),
               PackedRecurrentWeights(kernel: kernel, product: .backward, gates: 1, hiddenSize: H))
            : nil
    }

    /// The Float views of the buffers that the recurrence kernels read and write, or nil for
    /// Double. (A cast of the same objects: nothing is copied.)
    private func floatRecurrence(_ parameters: Buffer<Scalar>)
        -> (packed: (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights),
            parameters: Buffer<Float>, hs: Buffer<Float>, dhs: Buffer<Float>)? {
        guard let packedW_hh, let p = parameters as? Buffer<Float>, let hs = hs as? Buffer<Float>,
              let dhs = dhs as? Buffer<Float> else { return nil }
        return (packedW_hh, p, hs, dhs)
    }

    /// h_T of each sequence after the last call: [maxBatchSize, H], first batchSize rows valid.
    public var finalHidden: Buffer<Scalar> { finalHiddenStorage }

    /// ‖dh_t‖ (L2 over H, averaged over the batch) for t = 0..<T after the last
    /// forwardBackward; index 0 is farthest from the end of the sequence.
    public var gradientFlow: [Double] {
        let B = Double(max(lastBatchSize, 1))
        return (0..<sequenceLength).map { lastBatchSize == 0 ? 0 : dhNormSums[$0] / B }
    }

    /// p_t of sequence b after the last `forward` (not forwardBackward, whose buffer then
    /// holds dy). For tests and diagnostics; allocates.
    public func probabilities(step t: Int, sequence b: Int) -> [Scalar] {
        precondition(t >= 0 && t < sequenceLength && b >= 0 && b < lastForwardBatchSize,
                     "probabilities(step:sequence:) after a forward of that batch only")
        let V = shape.vocabularySize
        let row = (t * lastForwardBatchSize + b) * V
        return ys.toArray(range: row..<row + V)
    }

    // MARK: - Forward

    /// Forward only (evaluation): the summed loss over batchSize·T tokens; sets finalHidden.
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public func forward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>,
                        batchSize: Int, initialHidden: Buffer<Scalar>?) -> Double {
        forwardPass(parameters: parameters, inputs: inputs, batchSize: batchSize, initialHidden: initialHidden)
        lastForwardBatchSize = batchSize
        return lossPass(parameters: parameters, targets: targets, batchSize: batchSize, dyScale: nil)
    }

    /// h_t for t = 1…T and the logits, leaving y = H_all·W_hy^T (without b_y) in `ys`.
    private func forwardPass(parameters: Buffer<Scalar>, inputs: Buffer<Int32>,
                             batchSize B: Int, initialHidden: Buffer<Scalar>?) {
        let H = shape.hiddenSize, V = shape.vocabularySize, T = sequenceLength
        precondition(B >= 0 && B <= maxBatchSize, "batchSize \(B) outside 0...\(maxBatchSize)")
        precondition(parameters.count == layout.count, "parameters: \(parameters.count) scalars, layout needs \(layout.count)")
        precondition(inputs.count >= B * T, "inputs hold \(inputs.count) tokens, need \(B * T)")
        guard B > 0 else { return }
        let p = parameters.baseAddress
        let W_hh = layout.range(of: .W_hh).lowerBound, W_hy = layout.range(of: .W_hy).lowerBound
        let b_h = p + layout.range(of: .b_h).lowerBound
        RNNKernels.transpose(p + layout.range(of: .W_xh).lowerBound, rows: H, columns: V, into: W_xhT.baseAddress)

        if let h0 = initialHidden {
            precondition(h0.count >= B * H, "initialHidden holds \(h0.count) scalars, need \(B * H)")
            hs.baseAddress.update(from: h0.baseAddress, count: B * H)
        } else {
            hs.baseAddress.update(repeating: 0, count: B * H)
        }

        // The recurrence, the only per-step part: a_t = W_xh x_t + b_h + h_{t-1}·W_hh^T.
        let float = floatRecurrence(parameters)
        if let float { float.packed.forward.pack(float.parameters, offset: W_hh) }
        for t in 1...T {
            let a = hs.baseAddress + t * B * H
            RNNKernels.gatherInput(a: a, W_xhT: W_xhT.baseAddress, b_h: b_h,
                                   tokens: inputs.baseAddress + (t - 1), tokenStride: T,
                                   batchSize: B, H: H, V: V)
            if let float {
                float.packed.forward.forward(h: float.hs, hOffset: (t - 1) * B * H, rows: B,
                                             into: float.hs, aOffset: t * B * H, epilogue: .tanh)
            } else {
                BLAS.gemm(.none, .transposed, m: B, n: H, k: H,
                          a: hs, aOffset: (t - 1) * B * H, b: parameters, bOffset: W_hh,
                          beta: 1, c: hs, cOffset: t * B * H)
                RNNKernels.tanhInPlace(a, count: B * H)
            }
        }
        finalHiddenStorage.baseAddress.update(from: hs.baseAddress + T * B * H, count: B * H)

        // Output projection for all T·B rows at once (b_y is added in the softmax pass).
        BLAS.gemm(.none, .transposed, m: T * B, n: V, k: H,
                  a: hs, aOffset: B * H, b: parameters, bOffset: W_hy, beta: 0, c: ys)
    }

    /// Softmax + cross-entropy of every row; returns Σ -log p[target]. With dyScale, rows
    /// become dy = (p - onehot)·dyScale, else p.
    private func lossPass(parameters: Buffer<Scalar>, targets: Buffer<Int32>,
                          batchSize B: Int, dyScale: Scalar?) -> Double {
        let V = shape.vocabularySize, T = sequenceLength
        precondition(targets.count >= B * T, "targets hold \(targets.count) tokens, need \(B * T)")
        let b_y = parameters.baseAddress + layout.range(of: .b_y).lowerBound
        var loss = 0.0
        for t in 0..<T {
            for b in 0..<B {
                let target = Int(targets[b * T + t])
                precondition(target >= 0 && target < V, "target token \(target) outside the vocabulary 0..<\(V)")
                loss += Double(RNNKernels.softmaxCrossEntropy(
                    y: ys.baseAddress + (t * B + b) * V, b_y: b_y, target: target, V: V, dyScale: dyScale))
            }
        }
        return loss
    }

    // MARK: - Forward + backward

    /// Forward pass + exact full BPTT over `batchSize` (0...maxBatchSize) sequences.
    /// inputs/targets: token ids, batch-major: sequence b at [b·T, b·T+T).
    /// initialHidden: nil means h_0 = 0, else row-major [batchSize, H] (further rows ignored).
    /// tokenCountForMean: dy_t = (p_t - onehot)/tokenCountForMean — the GLOBAL token count, so
    ///   that a rank's gradient is its share of the global-mean gradient (docs/design.md §4).
    /// gradients: overwritten with this batch's gradient in ParameterLayout order.
    /// readiness: told as each of `gradientBuckets` becomes final, and at every step of the
    ///   recurrence backward (overlap of the allreduce with BPTT).
    /// Returns Σ over the batchSize·T tokens of -log p_t[target] (not divided).
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public func forwardBackward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>,
                                batchSize B: Int, initialHidden: Buffer<Scalar>?, tokenCountForMean: Int,
                                gradients: Buffer<Scalar>, readiness: GradientReadiness? = nil) -> Double {
        let H = shape.hiddenSize, V = shape.vocabularySize, T = sequenceLength
        precondition(gradients.count == layout.count, "gradients: \(gradients.count) scalars, layout needs \(layout.count)")
        precondition(B == 0 || tokenCountForMean > 0, "tokenCountForMean must be positive")
        forwardPass(parameters: parameters, inputs: inputs, batchSize: B, initialHidden: initialHidden)
        lastBatchSize = B
        lastForwardBatchSize = 0
        guard B > 0 else {
            gradients.fill(0)
            dhNormSums.fill(0)
            for bucket in gradientBuckets { readiness?.gradientReady(bucket) }
            return 0
        }
        let loss = lossPass(parameters: parameters, targets: targets, batchSize: B,
                            dyScale: 1 / Scalar(tokenCountForMean))
        let rows = T * B
        let g = gradients.baseAddress
        let W_hh = layout.range(of: .W_hh).lowerBound, W_hy = layout.range(of: .W_hy).lowerBound
        let db_h = g + layout.range(of: .b_h).lowerBound, db_y = g + layout.range(of: .b_y).lowerBound

        // Output layer, all T·B rows at once: dW_hy = dY^T·H_all, db_y = Σ dy, dH_out = dY·W_hy.
        BLAS.gemm(.transposed, .none, m: V, n: H, k: rows,
                  a: ys, b: hs, bOffset: B * H, beta: 0, c: gradients, cOffset: W_hy)
        db_y.update(repeating: 0, count: V)
        RNNKernels.addColumnSums(ys.baseAddress, rows: rows, columns: V, into: db_y)
        readiness?.gradientReady(layout.range(of: .W_hy))
        readiness?.gradientReady(layout.range(of: .b_y))
        BLAS.gemm(.none, .none, m: rows, n: H, k: V, a: ys, b: parameters, bOffset: W_hy, beta: 0, c: dhs)

        // The recurrence backward, t = T…1: dh_t = dH_out_t + da_{t+1}·W_hh, da_t = (1-h_t²)⊙dh_t.
        let float = floatRecurrence(parameters)
        if let float { float.packed.backward.pack(float.parameters, offset: W_hh) }
        for t in stride(from: T, through: 1, by: -1) {
            let dh = (t - 1) * B * H
            readiness?.backwardProgress()
            if t < T, let float {
                dhNormSums[t - 1] = float.packed.backward.backward(
                    da: float.dhs, daOffset: t * B * H, rows: B, into: float.dhs, dhOffset: dh,
                    epilogue: .tanhDerivative(hidden: float.hs, offset: t * B * H))
                continue
            }
            if t < T {
                BLAS.gemm(.none, .none, m: B, n: H, k: H, a: dhs, aOffset: t * B * H,
                          b: parameters, bOffset: W_hh, beta: 1, c: dhs, cOffset: dh)
            }
            dhNormSums[t - 1] = RNNKernels.tanhBackwardInPlace(
                dhs.baseAddress + dh, h: hs.baseAddress + t * B * H, rows: B, H: H)
        }

        // Weight gradients of the recurrence, one gemm over all T·B rows:
        // dW_hh = Σ_t da_t^T·h_{t-1} = da[1…T]^T · h[0…T-1] (slots 0…T-1 are contiguous).
        BLAS.gemm(.transposed, .none, m: H, n: H, k: rows,
                  a: dhs, b: hs, beta: 0, c: gradients, cOffset: W_hh)
        for block in W_hhBlocks { readiness?.gradientReady(block) }
        // dW_xh: scatter-add of the da rows into the token rows of dW_xh^T, then transpose.
        W_xhT.fill(0)
        db_h.update(repeating: 0, count: H)
        RNNKernels.scatterInputGradient(da: dhs.baseAddress, dW_xhT: W_xhT.baseAddress, db_h: db_h,
                                        inputs: inputs.baseAddress, sequenceLength: T, batchSize: B, H: H)
        RNNKernels.transpose(W_xhT.baseAddress, rows: V, columns: H,
                             into: g + layout.range(of: .W_xh).lowerBound)
        readiness?.gradientReady(layout.range(of: .W_xh))
        readiness?.gradientReady(layout.range(of: .b_h))
        return loss
    }
}
