import Clock
import Buffers
import RNN
import Optimizers
import TextData
import Trace

/// One synchronous data-parallel training step on this rank (docs/design.md §1, steps 2–4): fill
/// the batch, forward and BPTT into the flat gradient buffer, one allreduce, clip, and the
/// optimizer update. Every buffer is allocated once, here; a step allocates nothing.
///
/// Gradient accumulation (`accumulate` k > 1): the rank's rows of the step are cut into k
/// micro-batches that run forward and BPTT one after the other on a workspace sized for one,
/// their gradients summed into `accumulated`; the last one's buckets are reduced as its BPTT
/// finishes them, each with the earlier micro-batches' sum added first (AccumulatingReadiness),
/// so the allreduce still overlaps BPTT and runs once per step. Every micro-batch divides by
/// the step's global token count, so the sum is the gradient of the global mean loss: (P, k)
/// and (P·k, 1) follow the same trajectory up to rounding.
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
    /// The parameters' moving average (`ema`), stepped after every applied update.
    package let average: ExponentialMovingAverage?
    private var hiddenIsCarried = false
    /// k, and the rows of one micro-batch (at most).
    package let accumulation: Int
    private let microBatchSize: Int
    /// k > 1: one micro-batch's tokens, its carried state, and the earlier micro-batches' gradient sum.
    private let micro: (inputs: Buffer<Int32>, targets: Buffer<Int32>, state: RecurrentState<Float>?,
                        accumulated: Buffer<Float>, readiness: AccumulatingReadiness)?
    /// The timeline (off: records nothing), and what marks the end of each forward pass in it.
    package let trace: TraceRecorder
    private let traced: TracedReadiness
    /// Events one step may record: the step, its batch, wait, clip (twice with local
    /// clipping) and optimizer, a forward and a backward per micro-batch, one per bucket.
    private let eventsPerStep: Int

    package init(parameters: Buffer<Float>, optimizer: Optimizer, batches: BatchSource, architecture: ModelArchitecture,
                 dropout: Dropout?, synchronizer: GradientSynchronizer, globalBatch: Int, kernel: RecurrenceKernel,
                 accumulation: Int = 1, average: ExponentialMovingAverage? = nil, trace: TraceRecorder = .off()) {
        self.average = average
        self.trace = trace
        traced = TracedReadiness(recorder: trace)
        eventsPerStep = 6 + 2 * accumulation + synchronizer.ring.maxPieces
        precondition(accumulation >= 1, "accumulation must be at least 1")
        self.parameters = parameters
        self.optimizer = optimizer
        self.batches = batches
        self.synchronizer = synchronizer
        gradients = Buffer(count: parameters.count, repeating: 0)
        let dropout = dropout.flatMap { $0.isActive ? $0 : nil }
        self.dropout = dropout
        self.accumulation = accumulation
        let T = batches.sequenceLength
        microBatchSize = (batches.maxBatchSize + accumulation - 1) / accumulation
        workspace = StackedBPTTWorkspace(architecture: architecture, maxBatchSize: microBatchSize,
                                         sequenceLength: T, kernel: kernel, weightDrop: (dropout?.weightDrop ?? 0) > 0)
        inputs = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        targets = Buffer(count: batches.maxBatchSize * batches.sequenceLength, repeating: 0)
        carried = RecurrentState(architecture: architecture, capacity: batches.maxBatchSize)
        if accumulation > 1 {
            let streams: Bool
            switch batches {
            case .sequences: streams = false
            case .streams: streams = true
            }
            let accumulated = Buffer<Float>(count: parameters.count, repeating: 0)
            micro = (Buffer(count: microBatchSize * T, repeating: 0), Buffer(count: microBatchSize * T, repeating: 0),
                     streams ? RecurrentState(architecture: architecture, capacity: microBatchSize) : nil,
                     accumulated, AccumulatingReadiness(gradients: gradients, accumulated: accumulated))
        } else {
            micro = nil
        }
        synchronizer.prepare(buckets: workspace.gradientBuckets)
        optimizerWarmer = CacheWarmer([parameters, gradients] + optimizer.stateTensors.map(\.buffer))
        globalTokens = globalBatch * batches.sequenceLength
    }

    /// The k micro-batches of the rank's `rows` (sizes differing by at most one), forward and
    /// BPTT in turn; the last one's buckets go to `readiness` with the earlier ones' sum added.
    /// Returns the summed loss.
    private func accumulate(_ micro: (inputs: Buffer<Int32>, targets: Buffer<Int32>, state: RecurrentState<Float>?,
                                      accumulated: Buffer<Float>, readiness: AccumulatingReadiness),
                            step: Int, rows: Int, carriesIn: Bool, readiness: GradientReadiness?) -> Double {
        let T = batches.sequenceLength
        var lossSum = 0.0, firstRow = 0
        for j in 0..<accumulation {
            let microStart = trace.now()
            let count = rows / accumulation + (j < rows % accumulation ? 1 : 0)
            let isLast = j == accumulation - 1
            micro.inputs.baseAddress.update(from: inputs.baseAddress + firstRow * T, count: count * T)
            micro.targets.baseAddress.update(from: targets.baseAddress + firstRow * T, count: count * T)
            if let state = micro.state {
                // A stream at its epoch start begins from zeros.
                if carriesIn { state.copy(from: carried, rows: count, sourceRow: firstRow) } else { state.reset() }
            }
            let draw = dropout.map {
                DropoutDraw(dropout: $0, step: step, sequenceIndices: batches.lastIndices, firstRow: firstRow)
            }
            micro.readiness.inner = isLast ? readiness : nil
            let own: GradientReadiness? = isLast && readiness != nil ? micro.readiness : nil
            lossSum += workspace.forwardBackward(
                parameters: parameters, inputs: micro.inputs, targets: micro.targets, batchSize: count,
                initialState: micro.state, tokenCountForMean: globalTokens, dropout: draw, gradients: gradients,
                readiness: trace.isOn ? traced.wrapping(own) : own)
            if let state = micro.state {
                state.copy(from: workspace.finalState, rows: count)
                carried.copy(from: state, rows: count, row: firstRow)
            }
            if !isLast {
                if j == 0 {
                    micro.accumulated.baseAddress.update(from: gradients.baseAddress, count: gradients.count)
                } else {
                    CellKernels.add(gradients.baseAddress, into: micro.accumulated.baseAddress, count: gradients.count)
                }
            } else if readiness == nil {
                CellKernels.add(micro.accumulated.baseAddress, into: gradients.baseAddress, count: gradients.count)
            }
            recordPasses(start: microStart, microBatch: j)
            firstRow += count
        }
        return lossSum
    }

    /// The micro-batch's forward pass (from `start` to the end the workspace reported) and its
    /// backward pass (from there to now).
    private func recordPasses(start: Double, microBatch: Int) {
        guard trace.isOn else { return }
        trace.record(.forward, start: start, end: traced.forwardEnd, index: microBatch)
        trace.record(.backward, since: traced.forwardEnd, index: microBatch)
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
        trace.beginStep(step + 1, reserving: eventsPerStep)
        let (batchSize, resetsHidden) = try TrainingData.onThisRank { () throws(TokenFileError) in
            try batches.fill(step: step, inputs: inputs, targets: targets)
        }
        let readiness = try synchronizer.begin(gradients, mayOverlap: !hooked)
        trace.record(.batch, start: computeStart, end: trace.now())
        let carriesIn = !resetsHidden && hiddenIsCarried
        let lossSum: Double
        if let micro {
            lossSum = accumulate(micro, step: step, rows: batchSize, carriesIn: carriesIn, readiness: readiness)
        } else {
            let forwardStart = trace.now()
            // Masks from (seed, global step, dataset or global stream index, layer, t): the same
            // on any rank count, and redrawn identically after a resume.
            let draw = dropout.map { DropoutDraw(dropout: $0, step: step, sequenceIndices: batches.lastIndices) }
            lossSum = workspace.forwardBackward(
                parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                initialState: carriesIn ? carried : nil, tokenCountForMean: globalTokens,
                dropout: draw, gradients: gradients, readiness: trace.isOn ? traced.wrapping(readiness) : readiness)
            switch batches {
            case .sequences: break
            case .streams:
                // No gradient crosses the chunk boundary: only the values carry over.
                carried.copy(from: workspace.finalState, rows: batchSize)
            }
            recordPasses(start: forwardStart, microBatch: 0)
        }
        switch batches {
        case .sequences: break
        case .streams: hiddenIsCarried = true
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
            average?.update(from: parameters)
        }
        let end = MonotonicClock.seconds()
        trace.record(.optimizer, start: optimizerStart, end: end)
        trace.record(.step, start: computeStart, end: end)
        return Result(lossSum: lossSum, batchSize: batchSize, outcome: outcome, computeSeconds: computeSeconds,
                      allreduceSeconds: allreduceSeconds, optimizerSeconds: end - optimizerStart,
                      reducedDuringBackward: readiness == nil
                        ? 0 : Double(synchronizer.ring.elementsReducedBeforeFinish) / Double(max(1, gradients.count)))
    }
}

/// The last micro-batch's readiness: each bucket gets the earlier micro-batches' gradient sum
/// added (gradient = last + accumulated, one order for every bucket and with or without
/// overlap) just before the allreduce may take it.
final class AccumulatingReadiness: GradientReadiness {
    let gradients: Buffer<Float>
    let accumulated: Buffer<Float>
    var inner: GradientReadiness?

    init(gradients: Buffer<Float>, accumulated: Buffer<Float>) {
        self.gradients = gradients
        self.accumulated = accumulated
    }

    func gradientReady(_ range: Range<Int>) {
        CellKernels.add(accumulated.baseAddress + range.lowerBound, into: gradients.baseAddress + range.lowerBound,
                        count: range.count)
        inner?.gradientReady(range)
    }

    func backwardProgress() { inner?.backwardProgress() }
}
