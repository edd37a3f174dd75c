import Clock
import BLAS
import Buffers
import Checkpoints
import Config
import Distributed
import MPI
import Optimizers
import Reporting
import RNN
import RunErrors
import TextData
import Trace

/// One training run's state and the phases of its loop (Trainer.run calls them in order).
/// Every phase is collective: all ranks call it for every step, and take the same branches,
/// because every decision rests on values that are identical on all ranks.
final class TrainingRun {
    let config: TrainingConfig
    let collectives: Collectives
    let hooks: TrainingHooks
    let kernels: ComputeKernels
    let data: TrainingData
    let layout: ModelLayout
    let progress: ProgressReporter
    let stepper: DataParallelStep
    let checkpoints: RunCheckpoints
    let schedule: LearningRateSchedule
    let evaluator: Evaluator?
    let gradientDiagnostics: RunDiagnostics
    let firstStep: Int
    /// The timeline (`trace`; off: records nothing), and on rank 0 the file it goes to.
    let trace: TraceRecorder
    private let traceFile: TraceFile?
    private(set) var summary: TrainingSummary
    /// `early-stop` patience ran out: the loop ends after this step's phases.
    var stoppedEarly: Bool { summary.stoppedEarlyAt != nil }
    private var interval = IntervalAccumulator()
    private var learningRate = 0.0
    private let runStart: Double
    private var intervalStart: Double
    private var world: Communicator { collectives.world }
    private var parameters: Buffer<Float> { stepper.parameters }
    /// What evaluation, keep-best and save read: the moving average when `ema` is on.
    private var evaluated: Buffer<Float> { stepper.average?.average ?? stepper.parameters }
    private var globalTokens: Int { data.globalBatch * data.batches.sequenceLength }

    /// The steps this process runs (a resumed run starts past 0).
    var steps: Range<Int> { firstStep ..< max(firstStep, data.totalSteps) }

    /// The recurrence kernel and the times that chose it (for the header).
    let kernel: KernelSelection.Decision

    /// Reads the data, opens the outputs, decides the recurrence kernel (KernelSelection), and
    /// starts from fresh parameters, `init` or `resume`.
    init(config: TrainingConfig, collectives: Collectives, output: ProgressOutput?, hooks: TrainingHooks,
         kernels: ComputeKernels) throws {
        self.config = config
        self.collectives = collectives
        self.hooks = hooks
        self.kernels = kernels
        let world = collectives.world
        let data = try RankAgreement.agree(collectives, "corpus check") { try TrainingData(config: config, world: world) }
        self.data = data
        let architecture = ModelArchitecture(cell: config.cell, layers: config.layers, hiddenSize: config.hidden,
                                             vocabularySize: data.corpus.vocabulary.count, embeddingSize: config.embeddingSize,
                                             tiedWeights: config.tieWeights)
        layout = ModelLayout(architecture: architecture)
        trace = config.trace == nil ? .off() : .on()
        (progress, traceFile) = try RankAgreement.agree(collectives, "output check") {
            if world.isRoot, let directory = config.checkpointDir {
                try CheckpointStore(directory: directory, keep: config.keepCheckpoints).prepare()
            }
            var traceFile: TraceFile?
            if world.isRoot, let path = config.trace {
                do { traceFile = try TraceFile(path: path) } catch { throw RunError.badInput("cannot write the trace: \(error)") }
            }
            return (try ProgressReporter(output: world.isRoot ? output : nil, quiet: config.quiet,
                                        entropyFloor: data.corpus.entropyFloor,
                                        charactersPerToken: data.corpus.charactersPerToken,
                                        metricsPath: world.isRoot ? config.metrics : nil, appendMetrics: config.resume != nil,
                                        tensorBoardDirectory: world.isRoot ? config.tensorboard : nil), traceFile)
        }

        checkpoints = RunCheckpoints(config: config, data: data, layout: layout, collectives: collectives)
        let resumed = try checkpoints.findResume(progress: progress)
        let kernel = try KernelSelection.decide(kernels.recurrence, recorded: try checkpoints.recordedKernel(resumed),
                                                architecture: architecture, batchPerRank: data.batches.maxBatchSize,
                                                sequenceLength: data.batches.sequenceLength, collectives: collectives)
        self.kernel = kernel
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let optimizer = try OptimizerFactory.make(config: config, count: layout.count)
        let topology = try HostTopology.discover(world)
        let synchronizer = try GradientSynchronizer(collectives: collectives, clipMode: config.clipMode,
                                                clipThreshold: config.clip, clipScope: config.clipScope,
                                                gradientCount: layout.count, overlap: config.overlapAllreduce,
                                                algorithm: config.allreduce.algorithm(on: topology),
                                                crossHost: config.twoLevelCrossHost, topology: topology,
                                                trace: trace)
        // The masks' seed is the run's seed: a resumed run and any rank count draw the same masks.
        stepper = DataParallelStep(parameters: parameters, optimizer: optimizer, batches: data.batches,
                                   architecture: architecture,
                                   dropout: Dropout(probability: config.dropout, seed: UInt64(config.seed), masking: config.dropoutMasking,
                                                    weightDrop: config.weightDrop, embeddingDrop: config.embeddingDropout),
                                   synchronizer: synchronizer, globalBatch: data.globalBatch, kernel: kernel.kernel,
                                   accumulation: config.accumulate,
                                   average: config.ema > 0 ? try ExponentialMovingAverage(decay: config.ema, count: layout.count) : nil,
                                   trace: trace)
        var summary = TrainingSummary(steps: 0, entropyFloor: data.corpus.entropyFloor)
        summary.charactersPerToken = data.corpus.charactersPerToken
        firstStep = try checkpoints.initialize(resumed: resumed, parameters: parameters, optimizer: optimizer, stepper: stepper,
                                               summary: &summary, progress: progress)
        self.summary = summary
        schedule = OptimizerFactory.schedule(config: config, totalSteps: data.totalSteps)
        gradientDiagnostics = RunDiagnostics(architecture: architecture, sequenceLength: data.batches.sequenceLength)
        evaluator = data.validation.map { Evaluator(dataset: $0, architecture: architecture, maxTokens: config.evalTokens, kernel: kernel.kernel) }
        runStart = MonotonicClock.seconds()
        intervalStart = runStart
        progress.say(header)
        if let advice = data.corpus.advice { progress.say(advice) }
        try hooks.runStarting?(world.rank, data.sequenceCount)
        try collectives.watchdog.guarding("trace clock alignment", step: firstStep) { try ChromeTrace.align(trace, world: world) }
    }

    // MARK: - The phases of one step

    /// Sample → forward/backward → allreduce → clip → optimizer step.
    func trainStep(_ step: Int) throws {
        learningRate = schedule.learningRate(base: config.lr, step: step) * summary.plateau.factor
        let result = try stepper.run(step: step, learningRate: learningRate, hooked: hooks.gradientsComputed != nil) { _ in
            try hooks.gradientsComputed?(hookStep(step))
        }
        interval.add(result)
        switch result.outcome {
        case .apply(_, let clipped):
            if clipped { summary.clippedSteps += 1 }
        case .skip(let norm):
            summary.skippedSteps += 1
            if config.onNonfinite == .stop {
                throw RunError.fault("non-finite gradient (norm \(norm)) at step \(step + 1); stopping (on-nonfinite: stop)")
            }
        }
        summary.steps = step + 1
        try hooks.stepFinished?(hookStep(step))
    }

    /// Every `checksum-every` steps and at the end: the parameters must be identical on all ranks.
    func verifyChecksumIfDue(_ step: Int) throws {
        let completed = step + 1
        guard config.checksumEvery > 0 && completed % config.checksumEvery == 0 || isLast(step) else { return }
        let start = trace.now()
        defer { trace.record(.checksum, since: start) }
        summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: completed)
    }

    /// Every `eval-every` steps and at the end: the validation loss (and `keep-best`).
    func evaluateIfDue(_ step: Int) throws -> Double? {
        let completed = step + 1
        guard let evaluator, isLast(step) || (config.evalEvery > 0 && completed % config.evalEvery == 0) else { return nil }
        // Evaluation time is not training time: keep it out of the interval's tokens/s.
        let evaluationStart = MonotonicClock.seconds()
        defer {
            intervalStart += MonotonicClock.seconds() - evaluationStart
            trace.record(.evaluation, since: evaluationStart)
        }
        let validation = try evaluator.evaluate(parameters: evaluated, collectives: collectives, step: completed)
        // The last evaluation is the final one: at the last step, or where early-stop ends the run.
        summary.finalValidation = (validation.meanLoss, validation.bitsPerToken, validation.perplexity)
        if validation.meanLoss < summary.bestValidationLoss ?? .infinity {
            summary.bestValidationLoss = validation.meanLoss
            if config.keepBest { try checkpoints.writeBest(parameters: evaluated, step: completed, loss: validation.meanLoss) }
        }
        watchPlateau(validation.meanLoss, step: completed)
        return validation.meanLoss
    }

    /// `lr-schedule: plateau` and `early-stop`: the validation loss, identical on every rank,
    /// decides alike everywhere.
    private func watchPlateau(_ loss: Double, step: Int) {
        guard config.lrSchedule == .plateau || config.earlyStop > 0 else { return }
        let decay = config.lrSchedule == .plateau ? config.plateauFactor : nil
        if case .decayed(let factor) = summary.plateau.observe(loss, decay: decay, patience: config.plateauPatience) {
            progress.say("validation plateau at step \(step): lr × \(config.plateauFactor) → \(config.lr * factor)")
        }
        if config.earlyStop > 0, summary.plateau.evaluationsSinceBest >= config.earlyStop, !stoppedEarly {
            summary.stoppedEarlyAt = step
            progress.say("early stop at step \(step): \(config.earlyStop) evaluations without a better validation loss than "
                + "\(summary.plateau.best)")
        }
    }

    /// Every `log-every` steps, at the end, after an evaluation and at a `diagnose-every` step:
    /// the global loss of the interval (one small allreduce), each rank's times (one small
    /// gather), the progress line.
    func reportIfDue(_ step: Int, validationLoss: Double?) throws {
        let completed = step + 1
        guard completed % config.logEvery == 0 || isLast(step) || validationLoss != nil || diagnosticsAreDue(completed) else { return }
        let start = trace.now()
        defer { trace.record(.report, since: start) }
        let totals = try interval.totals.summed(over: collectives, step: completed)
        let timing = try collectives.watchdog.guarding("timing gather", step: completed) {
            try RankTiming.gather(world, computeSeconds: interval.totals.computeSeconds,
                                  allreduceSeconds: interval.totals.allreduceSeconds)
        }
        // Diagnostics time is not training time: keep it out of the interval's tokens/s.
        let diagnosticsStart = MonotonicClock.seconds()
        let diagnostics = diagnosticsIfDue(completed)
        intervalStart += MonotonicClock.seconds() - diagnosticsStart
        let now = MonotonicClock.seconds()
        let meanLoss = totals.lossSum / Double(interval.steps * globalTokens)
        try progress.report(IntervalReport(
            step: completed, totalSteps: data.totalSteps, epoch: data.batches.epoch(ofStep: step),
            meanLoss: meanLoss, tokensSeen: completed * globalTokens,
            gradientNormBeforeClip: interval.lastGradientNorm,
            clippedFraction: Double(interval.clippedSteps) / Double(interval.steps),
            learningRate: learningRate,
            tokensPerSecond: Double(interval.steps * globalTokens) / max(1e-9, now - intervalStart),
            computeSeconds: totals.computeSeconds / Double(world.size), allreduceSeconds: totals.allreduceSeconds / Double(world.size),
            skippedSteps: interval.skippedSteps,
            secondsRemaining: (now - runStart) / Double(completed - firstStep) * Double(data.totalSteps - completed),
            validationLoss: validationLoss, timing: timing,
            diagnostics: diagnostics))
        summary.finalLoss = meanLoss
        interval = IntervalAccumulator()
        intervalStart = now
    }

    /// Every `checkpoint-every` steps (the final checkpoint is `finish`'s).
    func checkpointIfDue(_ step: Int) throws {
        let completed = step + 1
        guard config.checkpointEvery > 0, completed % config.checkpointEvery == 0, !isLast(step) else { return }
        try writeCheckpoint(step: completed)
    }

    /// Preemption: every rank learns of a signal any rank received, at the same step, writes
    /// the checkpoint and stops.
    func stopIfSignalled(_ step: Int) throws {
        let completed = step + 1
        let start = trace.now()
        let signal = try collectives.allreduce(Int(StopSignal.pending), op: .max, label: "stop agreement", step: completed)
        trace.record(.stopCheck, since: start)
        guard signal != 0 && !isLast(step) else { return }
        try writeCheckpoint(step: completed)
        let saved = summary.lastCheckpoint.map { "checkpoint written to \($0); resume with --resume \(config.checkpointDir!)" }
            ?? (config.checkpointDir == nil ? "no checkpoint-dir was set, so nothing was saved" : "checkpoint written by rank 0")
        throw RunError.preempted("stopped by \(StopSignal.name(Int32(signal))) after step \(completed) of \(data.totalSteps); \(saved)")
    }

    /// The final checksum, checkpoint and `save`.
    func finish() throws -> TrainingSummary {
        try hooks.runFinished?(world.rank)
        summary.seconds = MonotonicClock.seconds() - runStart
        summary.tokens = (summary.steps - firstStep) * globalTokens
        if summary.steps == firstStep || stoppedEarly {
            summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: firstStep)
        }
        if config.checkpointDir != nil, summary.steps > firstStep || summary.lastCheckpoint == nil {
            try writeCheckpoint(step: summary.steps)
        }
        if let path = config.save { try checkpoints.saveParameters(evaluated, to: path, step: summary.steps) }
        try writeTrace()
        progress.finish()
        summary.tensorBoardPath = progress.tensorBoardPath
        return summary
    }

    // MARK: - Helpers

    private func isLast(_ step: Int) -> Bool { step + 1 == data.totalSteps }

    private func writeCheckpoint(step: Int) throws {
        let start = trace.now()
        defer { trace.record(.checkpoint, since: start) }
        try checkpoints.write(step: step, parameters: parameters, optimizer: stepper.optimizer, stepper: stepper, summary: &summary)
    }

    /// Every rank's events to rank 0, which writes the file (collective).
    private func writeTrace() throws {
        guard trace.isOn else { return }
        let note = "rnn-dist train: \(world.size) ranks, \(layout.architecture.summary), steps \(firstStep + 1)-\(summary.steps)"
        let bytes = try collectives.watchdog.guarding("trace gather", step: summary.steps) {
            try ChromeTrace.gather(trace, world: world, note: note)
        }
        if let bytes, let traceFile {
            do { try traceFile.write(bytes) } catch { throw RunError.fault("cannot write the trace: \(error)") }
            summary.tracePath = traceFile.path
        }
    }

    private func hookStep(_ step: Int) -> TrainingHooks.Step {
        TrainingHooks.Step(step: step, firstStep: firstStep, rank: world.rank, parameters: parameters,
                           gradients: stepper.gradients, shard: data.batches.lastIndices, collectives: collectives)
    }

    /// The gradient survival of the latest step's batch (RunDiagnostics), every
    /// `diagnose-every` steps; rank 0 only.
    private func diagnosticsIfDue(_ completed: Int) -> GradientDiagnosticsRecord? {
        guard world.isRoot, diagnosticsAreDue(completed) else { return nil }
        return gradientDiagnostics.measure(parameters: parameters, inputs: stepper.inputs, targets: stepper.targets,
                                           batchSize: interval.lastBatchSize)
    }

    /// The same on every rank (config only): reportIfDue's collectives depend on it.
    private func diagnosticsAreDue(_ completed: Int) -> Bool {
        config.diagnoseEvery > 0 && completed % config.diagnoseEvery == 0
    }

    /// "tanh RNN H=64", "lstm L=2 H=512, dropout 0.2" or "lstm L=2 H=512 E=512 tied, embedding dropout 0.1".
    private var modelDescription: String {
        var text = layout.architecture.summary
        if config.dropout > 0 { text += ", dropout \(config.dropout)\(config.dropoutMasking == .locked ? " (locked)" : "")" }
        if config.weightDrop > 0 { text += ", weight drop \(config.weightDrop)" }
        if config.embeddingDropout > 0 { text += ", embedding dropout \(config.embeddingDropout)" }
        return text
    }

    /// "torch, forget gate +3.0, input gate −3.0", or where the parameters came from instead.
    private var initialization: String {
        if let resume = config.resume { return "resumed from \(resume)" }
        if let file = config.initFile { return "from \(file)" }
        return "\(config.initScheme), \(config.gateInitialization.summary(for: layout.architecture.cell))"
    }

    /// "two-level (auto: 3 hosts × 4 ranks; across hosts: leaders (0.41 ms, rings 0.98 ms)),
    /// overlapped with BPTT".
    private var allreduceDescription: String {
        let synchronizer = stepper.synchronizer
        let chosen = config.allreduce == .auto ? "auto: " : ""
        let overlap = world.size == 1 ? "one rank" : synchronizer.overlaps ? "overlapped with BPTT" : "after BPTT"
        let across = synchronizer.crossHost.map { "; across hosts: \($0)" } ?? ""
        return "\(synchronizer.algorithm.rawValue) (\(chosen)\(synchronizer.topology)\(across)), \(overlap)"
    }

    private var header: String {
        let perRank = data.globalBatch / world.size
        let remainder = data.globalBatch % world.size
        let unit = config.bptt == .truncated ? "streams" : "global batch"
        let accumulation = config.accumulate > 1 ? " in \(config.accumulate) micro-batches" : ""
        let length = config.bptt == .truncated ? "truncated BPTT k=\(data.batches.sequenceLength)" : "T=\(config.seqLen)"
        return """
        rnn-dist: \(world.size) rank\(world.size == 1 ? "" : "s"); data: \(data.corpus.summary)
        model: \(modelDescription), \(layout.count) parameters, init \(initialization); \(length), \(unit) \(data.globalBatch) \
        (\(perRank)\(remainder > 0 ? "-\(perRank + 1)" : "") per rank\(accumulation)), \(data.totalSteps) steps, \(data.describeEpoch)
        optimizer: \(config.optimizer) lr \(config.lr) (\(config.lrSchedule)), clip \(config.clipMode) \(config.clip) (\(config.clipScope)), seed \(config.seed)
        blas: \(kernels.blas.description); recurrence kernel: \(kernel.description)
        allreduce: \(allreduceDescription)
        """
    }
}

/// What one logging interval summed on this rank.
private struct IntervalAccumulator {
    var steps = 0
    var totals = IntervalTotals()
    var lastGradientNorm = 0.0
    /// This rank's sequences in the latest step (the batch diagnostics measure).
    var lastBatchSize = 0
    var clippedSteps = 0
    var skippedSteps = 0

    mutating func add(_ result: DataParallelStep.Result) {
        steps += 1
        lastBatchSize = result.batchSize
        totals.lossSum += result.lossSum
        totals.computeSeconds += result.computeSeconds + result.optimizerSeconds
        totals.allreduceSeconds += result.allreduceSeconds
        switch result.outcome {
        case .apply(let norm, let clipped):
            lastGradientNorm = norm
            if clipped { clippedSteps += 1 }
        case .skip(let norm):
            lastGradientNorm = norm
            skippedSteps += 1
        }
    }
}

/// The sums of an interval that are added over the ranks for the progress line.
private struct IntervalTotals {
    var lossSum = 0.0
    var computeSeconds = 0.0
    var allreduceSeconds = 0.0

    /// The same sums over all ranks: one allreduce of three numbers.
    func summed(over collectives: Collectives, step: Int) throws -> IntervalTotals {
        var values = [lossSum, computeSeconds, allreduceSeconds]
        try collectives.allreduce(&values, op: .sum, label: "loss allreduce", step: step)
        return IntervalTotals(lossSum: values[0], computeSeconds: values[1], allreduceSeconds: values[2])
    }
}
