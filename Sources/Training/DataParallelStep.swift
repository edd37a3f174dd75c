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
    }

    package let parameters: Buffer<Float>
    package let gradients: Buffer<Float>
    package let optimizer: Optimizer
    package let batches: BatchSource
    package let workspace: BPTTWorkspace<Float>
    package let inputs: Buffer<Int32>
    package let targets: Buffer<Int32>
    /// Truncated BPTT: each sequence's h_T, the next chunk's h_0 ([maxBatchSize, H]).
    package let carriedHidden: Buffer<Float>
    package let synchronizer: GradientSynchronizer
    package let globalTokens: Int
    private var hiddenIsCarried = false

    package init(parameters: Buffer<Float>, optimizer: Optimizer, batches: BatchSource, shape: RNNShape,
         synchronizer: GradientSynchronizer, globalBatch: Int) {
        self.parameters = parameters
        self.optimizer = optimizer
        self.batches = batches
        self.synchronizer = synchronizer
        gradients = Buffer(count: parameters.count, repeating: 0)
        workspace = BPTTWorkspace(shape: shape, maxBatchSize: batches.maxBatchSize, sequenceLength: batches.sequenceLength)
        inputs = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        targets = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        carriedHidden = Buffer(count: batches.maxBatchSize * shape.hiddenSize, repeating: 0)
        globalTokens = globalBatch * batches.sequenceLength
    }

    /// Installs carried hidden states (from a checkpoint) for the next step.
    package func restoreCarriedHidden(_ rows: [Float]) {
        carriedHidden.copy(from: rows)
        hiddenIsCarried = true
    }

    /// Runs step `step` (0-based): sample → forward/backward → allreduce → clip → optimizer step.
    /// `beforeAllreduce` sees this rank's gradient (the run's hooks; a non-escaping closure, so
    /// the call allocates nothing).
    package func run(step: Int, learningRate: Double, beforeAllreduce: (Buffer<Float>) throws -> Void = { _ in }) throws -> Result {
        let computeStart = MonotonicClock.seconds()
        let (batchSize, resetsHidden) = batches.fill(step: step, inputs: inputs, targets: targets)
        let initialHidden = resetsHidden || !hiddenIsCarried ? nil : carriedHidden
        let lossSum = workspace.forwardBackward(
            parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
            initialHidden: initialHidden, tokenCountForMean: globalTokens, gradients: gradients)
        if batches is StreamBatches {
            // No gradient crosses the chunk boundary: only the values carry over.
            carriedHidden.baseAddress.update(from: workspace.finalHidden.baseAddress, count: batchSize * workspace.shape.hiddenSize)
            hiddenIsCarried = true
        }
        try beforeAllreduce(gradients)
        let computeSeconds = MonotonicClock.seconds() - computeStart

        let localFraction = Double(batchSize * batches.sequenceLength) / Double(globalTokens)
        let (outcome, allreduceSeconds) = try synchronizer.synchronize(gradients, localTokenFraction: localFraction, step: step + 1)

        let optimizerStart = MonotonicClock.seconds()
        if case .apply = outcome {
            optimizer.step(parameters: parameters, gradients: gradients, learningRate: Float(learningRate))
        }
        return Result(lossSum: lossSum, batchSize: batchSize, outcome: outcome, computeSeconds: computeSeconds,
                      allreduceSeconds: allreduceSeconds, optimizerSeconds: MonotonicClock.seconds() - optimizerStart)
    }
}
