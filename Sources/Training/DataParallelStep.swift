import Clock
import Buffers
import RNN
import Optimizers
import TextData

/// One synchronous data-parallel training step on this rank (docs/design.md §1, steps 2–4): fill
/// the batch, forward and BPTT into the flat gradient buffer, one allreduce, clip, and the
/// optimizer update. Every buffer is allocated once, here; a step allocates nothing.
package final class DataParallelStep {
    package struct Result {
        var lossSum: Double
        var batchSize: Int
        var outcome: GradientSynchronizer.Outcome
        package var computeSeconds: Double
        package var allreduceSeconds: Double
        package var optimizerSeconds: Double
        /// Share of the gradient whose allreduce finished while BPTT still ran (overlap).
        package var reducedDuringBackward: Double
    }

    package let parameters: Buffer<Float>
    package let gradients: Buffer<Float>
    package let optimizer: Optimizer
    package let batches: BatchSource
    package let workspace: StackedBPTTWorkspace<Float>
    private let optimizerWarmer: CacheWarmer
    package let inputs: Buffer<Int32>
    package let targets: Buffer<Int32>
    /// Truncated BPTT: each stream's (h_T, c_T) of every layer, the next chunk's (h_0, c_0)
    /// ([L, maxBatchSize, H]; row b is this rank's b-th stream).
    package let carried: RecurrentState<Float>
    package let synchronizer: GradientSynchronizer
    package let globalTokens: Int
    /// Dropout between layers and before the output layer (nil: p = 0).
    package let dropout: Dropout?
    private var hiddenIsCarried = false

    package init(parameters: Buffer<Float>, optimizer: Optimizer, batches: BatchSource, architecture: ModelArchitecture,
                 dropout: Dropout?, synchronizer: GradientSynchronizer, globalBatch: Int, kernel: RecurrenceKernel) {
        self.parameters = parameters
        self.optimizer = optimizer
        self.batches = batches
        self.synchronizer = synchronizer
        gradients = Buffer(count: parameters.count, repeating: 0)
        let dropout = dropout.flatMap { $0.probability > 0 ? $0 : nil }
        self.dropout = dropout
        workspace = StackedBPTTWorkspace(architecture: architecture, maxBatchSize: batches.maxBatchSize,
                                         sequenceLength: batches.sequenceLength, kernel: kernel)
        inputs = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        targets = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        carried = RecurrentState(architecture: architecture, capacity: batches.maxBatchSize)
        synchronizer.prepare(buckets: workspace.gradientBuckets)
        optimizerWarmer = CacheWarmer([parameters, gradients] + optimizer.stateTensors.map(\.buffer))
        globalTokens = globalBatch * batches.sequenceLength
    }

    /// Installs carried states (from a checkpoint) for the next step: h (and c for LSTM) as
    /// [L, rows, H], row b this rank's b-th stream.
    package func restoreCarriedState(h: [Float], c: [Float]?, rows: Int) {
        let H = carried.hiddenSize
        precondition(h.count == carried.layers * rows * H && rows <= carried.capacity, "carried state does not fit")
        for l in 0..<carried.layers {
            carried.h.copy(from: h[l * rows * H ..< (l + 1) * rows * H], at: carried.offset(layer: l, row: 0))
            if let c, let cellState = carried.c {
                cellState.copy(from: c[l * rows * H ..< (l + 1) * rows * H], at: carried.offset(layer: l, row: 0))
            }
        }
        hiddenIsCarried = true
    }

    /// Runs step `step` (0-based): sample → forward/backward → allreduce → clip → optimizer step.
    /// `beforeAllreduce` sees this rank's gradient (the run's hooks; a non-escaping closure, so
    /// the call allocates nothing). A hook may change the gradient, so `hooked` steps do not
    /// overlap the allreduce with the backward pass (the bits are the same either way).
    package func run(step: Int, learningRate: Double, hooked: Bool = false,
                     beforeAllreduce: (Buffer<Float>) throws -> Void = { _ in }) throws -> Result {
        let computeStart = MonotonicClock.seconds()
        let (batchSize, resetsHidden) = try TrainingData.onThisRank { () throws(TokenFileError) in
            try batches.fill(step: step, inputs: inputs, targets: targets)
        }
        // Masks from (seed, global step, dataset or global stream index, layer, t): the same
        // on any rank count, and redrawn identically after a resume.
        let draw = dropout.map { DropoutDraw(dropout: $0, step: step, sequenceIndices: batches.lastIndices) }
        let readiness = try synchronizer.begin(gradients, mayOverlap: !hooked)
        let lossSum = workspace.forwardBackward(
            parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
            initialState: resetsHidden || !hiddenIsCarried ? nil : carried, tokenCountForMean: globalTokens,
            dropout: draw, gradients: gradients, readiness: readiness)
        switch batches {
        case .sequences: break
        case .streams:
            // No gradient crosses the chunk boundary: only the values carry over.
            carried.copy(from: workspace.finalState, rows: batchSize)
            hiddenIsCarried = true
        }
        try beforeAllreduce(gradients)
        let computeSeconds = MonotonicClock.seconds() - computeStart

        let localFraction = Double(batchSize * batches.sequenceLength) / Double(globalTokens)
        // While the allreduce waits for a neighbour still computing, bring what the optimizer
        // streams next (parameters, its state, the gradient) from memory into cache: at H=512
        // Adam reads 9 MB that BPTT's activations evicted, and runs at memory speed.
        optimizerWarmer.restart()
        let (outcome, allreduceSeconds) = try synchronizer.synchronize(
            gradients, localTokenFraction: localFraction, step: step + 1, overlapped: readiness != nil,
            whileWaiting: { optimizerWarmer.warmNext() })

        let optimizerStart = MonotonicClock.seconds()
        if case .apply = outcome {
            optimizer.step(parameters: parameters, gradients: gradients, learningRate: Float(learningRate))
        }
        return Result(lossSum: lossSum, batchSize: batchSize, outcome: outcome, computeSeconds: computeSeconds,
                      allreduceSeconds: allreduceSeconds, optimizerSeconds: MonotonicClock.seconds() - optimizerStart,
                      reducedDuringBackward: readiness == nil
                        ? 0 : Double(synchronizer.ring.elementsReducedBeforeFinish) / Double(max(1, gradients.count)))
    }
}
