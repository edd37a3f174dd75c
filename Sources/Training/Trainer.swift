import BLAS
import Buffers
import Foundation
import MPI
import RNN

/// Synchronous data-parallel training (DESIGN §1): every rank runs forward and BPTT on its
/// shard, one allreduce sums the token-weighted gradients, every rank applies the same step.
public final class Trainer {
    public let config: TrainingConfig
    private let world: Communicator
    private let debug: TrainingDebugOptions
    private let collectives: Collectives

    public init(config: TrainingConfig, world: Communicator = .world, debug: TrainingDebugOptions = .init()) {
        self.config = config
        self.world = world
        self.debug = debug
        let watchdog = CollectiveWatchdog(world: world, timeoutSeconds: config.collectiveTimeout)
        collectives = Collectives(world: world, watchdog: watchdog, checkFingerprints: config.checkCollectives)
    }

    public func run() throws -> TrainingSummary {
        StopSignal.install()
        collectives.watchdog.start()
        // Once per run: every rank's host, so that a fault message names the host of the rank it blames.
        collectives.watchdog.setHosts(try collectives.watchdog.guarding("host exchange", step: 0) { try world.hosts() })

        var loaded: TrainingData?
        try RankAgreement.agree(collectives, "corpus check") { loaded = try TrainingData(config: config, world: world) }
        let data = loaded!
        let shape = RNNShape(vocabularySize: data.corpus.vocabulary.count, hiddenSize: config.hidden)
        let layout = ParameterLayout(shape: shape)
        var reporter: ProgressReporter?
        try RankAgreement.agree(collectives, "output check") {
            reporter = try ProgressReporter(quiet: config.quiet || !world.isRoot, entropyFloor: data.corpus.entropyFloor,
                                            metricsPath: world.isRoot ? config.metrics : nil, appendMetrics: config.resume != nil,
                                            tensorBoardDirectory: world.isRoot ? config.tensorboard : nil)
            if world.isRoot, let directory = config.checkpointDir {
                try CheckpointStore(directory: directory, keep: config.keepCheckpoints).prepare()
            }
        }
        let progress = reporter!

        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let optimizer = try OptimizerFactory.make(config: config, count: layout.count)
        let synchronizer = GradientSynchronizer(collectives: collectives, clipMode: config.clipMode,
                                                clipThreshold: config.clip, clipScope: config.clipScope,
                                                gradientCount: layout.count)
        let stepper = DataParallelStep(parameters: parameters, optimizer: optimizer, batches: data.batches, shape: shape,
                                       synchronizer: synchronizer, globalBatch: data.globalBatch)
        let checkpoints = RunCheckpoints(config: config, data: data, layout: layout, collectives: collectives)
        var summary = TrainingSummary(steps: 0, entropyFloor: data.corpus.entropyFloor)
        let start = try checkpoints.initialize(parameters: parameters, optimizer: optimizer, stepper: stepper,
                                               summary: &summary, progress: progress)
        progress.say(header(data: data, layout: layout))

        let schedule = OptimizerFactory.schedule(config: config, totalSteps: data.totalSteps)
        let evaluator = data.validation.map { Evaluator(dataset: $0, shape: shape) }
        let globalTokens = data.globalBatch * data.batches.sequenceLength
        let shardTrace = try debugFiles(data: data)
        var interval = IntervalAccumulator()
        let runStart = BLAS.monotonicSeconds()
        var intervalStart = runStart

        for step in start..<max(start, data.totalSteps) {
            let completed = step + 1
            let isLast = completed == data.totalSteps
            let learningRate = schedule.learningRate(base: config.lr, step: step)
            let result = try stepper.run(step: step, learningRate: learningRate) { gradients in
                if completed == self.debug.nanAtStep && self.world.isRoot { gradients[0] = .nan }
                if step == 1 && self.debug.mismatchRank == self.world.rank {
                    _ = try self.collectives.allreduce(1, op: .sum, label: "debug extra collective", step: completed)
                }
            }
            shardTrace?.write(Data((["\(step)"] + data.batches.lastIndices.map(String.init)).joined(separator: " ").appending("\n").utf8))
            interval.add(result)
            switch result.outcome {
            case .apply(_, let clipped):
                if clipped { summary.clippedSteps += 1 }
            case .skip(let norm):
                summary.skippedSteps += 1
                if config.onNonfinite == "stop" {
                    throw RunError.fault("non-finite gradient (norm \(norm)) at step \(completed); stopping (on-nonfinite: stop)")
                }
            }
            if step == start, debug.perturbRank == world.rank { parameters[0] += 1e-3 }
            summary.steps = completed
            if let delay = debug.stepDelay { usleep(UInt32(delay * 1e6)) }

            if config.checksumEvery > 0 && completed % config.checksumEvery == 0 || isLast {
                summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: completed)
            }
            var validationLoss: Double?
            if let evaluator, isLast || (config.evalEvery > 0 && completed % config.evalEvery == 0) {
                // Evaluation time is not training time: keep it out of the interval's tokens/s.
                let evaluationStart = BLAS.monotonicSeconds()
                defer { intervalStart += BLAS.monotonicSeconds() - evaluationStart }
                let validation = try evaluator.evaluate(parameters: parameters, collectives: collectives, step: completed)
                validationLoss = validation.meanLoss
                if isLast { summary.finalValidation = (validation.meanLoss, validation.bitsPerToken, validation.perplexity) }
                if validation.meanLoss < summary.bestValidationLoss ?? .infinity {
                    summary.bestValidationLoss = validation.meanLoss
                    if config.keepBest { try checkpoints.writeBest(parameters: parameters, step: completed, loss: validation.meanLoss) }
                }
            }
            if completed % config.logEvery == 0 || isLast || validationLoss != nil {
                // One small allreduce per log step gives the global loss of the interval.
                var reduced = [interval.lossSum, interval.computeSeconds, interval.allreduceSeconds]
                try collectives.allreduce(&reduced, op: .sum, label: "loss allreduce", step: completed)
                // One small gather: each rank's own times, so that a straggler is visible.
                let timing = try collectives.watchdog.guarding("timing gather", step: completed) {
                    try RankTiming.gather(world, computeSeconds: interval.computeSeconds, allreduceSeconds: interval.allreduceSeconds)
                }
                let diagnostics = try diagnosticsIfDue(step: completed, stepper: stepper, layout: layout)
                let now = BLAS.monotonicSeconds()
                let meanLoss = reduced[0] / Double(interval.steps * globalTokens)
                try progress.report(IntervalReport(
                    step: completed, totalSteps: data.totalSteps, epoch: data.batches.epoch(ofStep: step),
                    meanLoss: meanLoss, tokensSeen: completed * globalTokens,
                    gradientNormBeforeClip: interval.lastGradientNorm,
                    clippedFraction: Double(interval.clippedSteps) / Double(interval.steps),
                    learningRate: learningRate,
                    tokensPerSecond: Double(interval.steps * globalTokens) / max(1e-9, now - intervalStart),
                    computeSeconds: reduced[1] / Double(world.size), allreduceSeconds: reduced[2] / Double(world.size),
                    skippedSteps: interval.skippedSteps,
                    secondsRemaining: (now - runStart) / Double(completed - start) * Double(data.totalSteps - completed),
                    validationLoss: validationLoss, timing: timing,
                    gradientNormByDistance: diagnostics?.norms, spectralRadius: diagnostics?.radius))
                summary.finalLoss = meanLoss
                interval = IntervalAccumulator()
                intervalStart = now
            }
            if config.checkpointEvery > 0, completed % config.checkpointEvery == 0, !isLast {
                try checkpoints.write(step: completed, parameters: parameters, optimizer: optimizer, stepper: stepper, summary: &summary)
            }
            // Preemption: every rank learns of a signal any rank received, at the same step.
            let signal = try collectives.allreduce(Int(StopSignal.pending), op: .max, label: "stop agreement", step: completed)
            if signal != 0 && !isLast {
                try checkpoints.write(step: completed, parameters: parameters, optimizer: optimizer, stepper: stepper, summary: &summary)
                let saved = summary.lastCheckpoint.map { "checkpoint written to \($0); resume with --resume \(config.checkpointDir!)" }
                    ?? (config.checkpointDir == nil ? "no checkpoint-dir was set, so nothing was saved" : "checkpoint written by rank 0")
                throw RunError.preempted("stopped by \(StopSignal.name(Int32(signal))) after step \(completed) of \(data.totalSteps); \(saved)")
            }
        }
        summary.seconds = BLAS.monotonicSeconds() - runStart
        summary.tokens = (summary.steps - start) * globalTokens
        if summary.steps == start {
            summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: start)
        }
        if config.checkpointDir != nil, summary.steps > start || summary.lastCheckpoint == nil {
            try checkpoints.write(step: summary.steps, parameters: parameters, optimizer: optimizer, stepper: stepper, summary: &summary)
        }
        if let path = config.save { try checkpoints.saveParameters(parameters, to: path, step: summary.steps) }
        progress.finish()
        summary.tensorBoardPath = progress.tensorBoardPath
        return summary
    }

    /// Gradient flow of the latest step (‖dh_t‖ by distance from the loss, this rank's batch)
    /// and the spectral radius of W_hh, every `diagnose-every` steps; rank 0 only.
    private func diagnosticsIfDue(step: Int, stepper: DataParallelStep, layout: ParameterLayout) throws -> (norms: [Double], radius: Double)? {
        guard world.isRoot, config.diagnoseEvery > 0, step % config.diagnoseEvery == 0 else { return nil }
        let flow = stepper.workspace.gradientFlow
        let radius = SpectralAnalysis.spectralRadius(of: stepper.parameters, offset: layout.range(of: .W_hh).lowerBound,
                                                     size: layout.shape.hiddenSize, iterations: 200)
        return (flow.reversed(), radius)
    }

    /// Opens the per-rank files the debug options ask for.
    private func debugFiles(data: TrainingData) throws -> FileHandle? {
        if let directory = debug.pidDirectory {
            try String(getpid()).write(toFile: "\(directory)/rank-\(world.rank).pid", atomically: true, encoding: .utf8)
        }
        return try debug.traceShardsDirectory.map { directory -> FileHandle in
            let path = "\(directory)/rank-\(world.rank).txt"
            let count = (data.batches as? SequenceBatches)?.dataset.count ?? 0
            FileManager.default.createFile(atPath: path, contents: Data("sequences \(count)\n".utf8))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            handle.seekToEndOfFile()
            return handle
        }
    }

    private func header(data: TrainingData, layout: ParameterLayout) -> String {
        let perRank = data.globalBatch / world.size
        let remainder = data.globalBatch % world.size
        let unit = config.bptt == "truncated" ? "streams" : "global batch"
        let length = config.bptt == "truncated" ? "truncated BPTT k=\(data.batches.sequenceLength)" : "T=\(config.seqLen)"
        return """
        rnn-dist: \(world.size) rank\(world.size == 1 ? "" : "s"); data: \(data.corpus.summary)
        model: tanh RNN H=\(config.hidden), \(layout.count) parameters; \(length), \(unit) \(data.globalBatch) \
        (\(perRank)\(remainder > 0 ? "-\(perRank + 1)" : "") per rank), \(data.totalSteps) steps, \(data.describeEpoch)
        optimizer: \(config.optimizer) lr \(config.lr) (\(config.lrSchedule)), clip \(config.clipMode) \(config.clip) (\(config.clipScope)), seed \(config.seed)
        """
    }
}

/// Sums over one logging interval, on this rank.
private struct IntervalAccumulator {
    var steps = 0
    var lossSum = 0.0
    var computeSeconds = 0.0
    var allreduceSeconds = 0.0
    var lastGradientNorm = 0.0
    var clippedSteps = 0
    var skippedSteps = 0

    mutating func add(_ result: DataParallelStep.Result) {
        steps += 1
        lossSum += result.lossSum
        computeSeconds += result.computeSeconds + result.optimizerSeconds
        allreduceSeconds += result.allreduceSeconds
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
