import BLAS
import Buffers
import Foundation
import MPI
import RNN

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var tokens: Int
    public var seconds: Double
    public var finalLoss: Double
    public var entropyFloor: Double?
    public var skippedSteps: Int
    public var clippedSteps: Int
    /// The parameters' checksum, verified identical on every rank at the end.
    public var parameterChecksum: Int64 = 0
    public var resumedFromStep: Int?
    public var resumedFromPath: String?
    public var lastCheckpoint: String?
    /// Tokens per second over the steps this process ran.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

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

        var loaded: TrainingData?
        try RankAgreement.agree(collectives, "corpus check") { loaded = try TrainingData(config: config, world: world) }
        let data = loaded!
        let shape = RNNShape(vocabularySize: data.corpus.vocabulary.count, hiddenSize: config.hidden)
        let layout = ParameterLayout(shape: shape)
        var reporter: ProgressReporter?
        try RankAgreement.agree(collectives, "output check") {
            reporter = try ProgressReporter(quiet: config.quiet || !world.isRoot, entropyFloor: data.corpus.entropyFloor,
                                            metricsPath: world.isRoot ? config.metrics : nil)
            if world.isRoot, let directory = config.checkpointDir {
                try CheckpointStore(directory: directory, keep: config.keepCheckpoints).prepare()
            }
        }
        let progress = reporter!

        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let optimizer = try OptimizerFactory.make(config: config, count: layout.count)
        let (startStep, resumedFrom) = try initializeState(parameters: parameters, optimizer: optimizer, layout: layout,
                                                           data: data, progress: progress)
        progress.say(header(data: data, layout: layout))

        let schedule = OptimizerFactory.schedule(config: config, totalSteps: data.totalSteps)
        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        let workspace = BPTTWorkspace<Float>(shape: shape, maxBatchSize: data.maxShardSize, sequenceLength: config.seqLen)
        let inputs = Buffer<Int32>(count: data.maxShardSize * config.seqLen, repeating: 0)
        let targets = Buffer<Int32>(count: data.maxShardSize * config.seqLen, repeating: 0)
        let synchronizer = GradientSynchronizer(collectives: collectives, clipMode: config.clipMode,
                                                clipThreshold: config.clip, clipScope: config.clipScope)
        let globalTokens = data.globalBatch * config.seqLen
        let store = config.checkpointDir.map { CheckpointStore(directory: $0, keep: config.keepCheckpoints) }
        let shardTrace = try debugFiles(datasetCount: data.train.count)

        var interval = IntervalAccumulator()
        var summary = TrainingSummary(steps: startStep, tokens: 0, seconds: 0, finalLoss: .nan,
                                      entropyFloor: data.corpus.entropyFloor, skippedSteps: 0, clippedSteps: 0)
        if config.resume != nil {
            summary.resumedFromStep = startStep
            summary.resumedFromPath = resumedFrom
        }
        let runStart = BLAS.monotonicSeconds()
        var intervalStart = runStart

        func writeCheckpoint(step: Int) throws {
            guard let store else { return }
            let metadata = CheckpointMetadata(
                step: step, epoch: data.sampler.epoch(ofStep: max(0, step - 1)), dataCursor: step * data.globalBatch,
                globalBatch: data.globalBatch, seed: config.seed, vocabulary: data.corpus.vocabulary, shape: shape,
                optimizer: config.optimizer, optimizerStepCount: optimizer.stepCount, config: config, ranks: world.size)
            try RankAgreement.agree(collectives, "checkpoint write", step: step) {
                guard world.isRoot else { return }
                let file = Checkpoint.make(metadata: metadata, parameters: parameters, layout: layout, optimizer: optimizer)
                summary.lastCheckpoint = try store.write(file, step: step)
            }
        }

        for step in startStep..<max(startStep, data.totalSteps) {
            let completed = step + 1
            let computeStart = BLAS.monotonicSeconds()
            let shard = data.sampler.shard(step: step)
            shardTrace?.write(Data((["\(step)"] + shard.map(String.init)).joined(separator: " ").appending("\n").utf8))
            data.train.fill(sequences: shard, inputs: inputs, targets: targets)
            let lossSum = workspace.forwardBackward(
                parameters: parameters, inputs: inputs, targets: targets, batchSize: shard.count,
                initialHidden: nil, tokenCountForMean: globalTokens, gradients: gradients)
            if completed == debug.nanAtStep && world.isRoot { gradients[0] = .nan }
            if step == 1 && debug.mismatchRank == world.rank {
                _ = try collectives.allreduce(1, op: .sum, label: "debug extra collective", step: completed)
            }
            interval.computeSeconds += BLAS.monotonicSeconds() - computeStart

            let localFraction = Double(shard.count * config.seqLen) / Double(globalTokens)
            let (outcome, allreduceSeconds) = try synchronizer.synchronize(gradients, localTokenFraction: localFraction, step: completed)
            interval.allreduceSeconds += allreduceSeconds

            let learningRate = schedule.learningRate(base: config.lr, step: step)
            let updateStart = BLAS.monotonicSeconds()
            switch outcome {
            case .apply(let norm, let clipped):
                optimizer.step(parameters: parameters, gradients: gradients, learningRate: Float(learningRate))
                interval.lastGradientNorm = norm
                if clipped { interval.clippedSteps += 1; summary.clippedSteps += 1 }
            case .skip(let norm):
                interval.lastGradientNorm = norm
                interval.skippedSteps += 1
                summary.skippedSteps += 1
                if config.onNonfinite == "stop" {
                    throw RunError.fault("non-finite gradient (norm \(norm)) at step \(completed); stopping (on-nonfinite: stop)")
                }
            }
            interval.computeSeconds += BLAS.monotonicSeconds() - updateStart
            if step == startStep, debug.perturbRank == world.rank { parameters[0] += 1e-3 }
            interval.lossSum += lossSum
            interval.steps += 1
            summary.steps = completed
            if let delay = debug.stepDelay { usleep(UInt32(delay * 1e6)) }

            let isLast = completed == data.totalSteps
            if config.checksumEvery > 0 && completed % config.checksumEvery == 0 || isLast {
                summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: completed)
            }
            if completed % config.logEvery == 0 || isLast {
                // One small allreduce per log step gives the global loss of the interval.
                var reduced = [interval.lossSum, interval.computeSeconds, interval.allreduceSeconds]
                try collectives.allreduce(&reduced, op: .sum, label: "loss allreduce", step: completed)
                let now = BLAS.monotonicSeconds()
                let meanLoss = reduced[0] / Double(interval.steps * globalTokens)
                let elapsed = now - runStart
                progress.report(IntervalReport(
                    step: completed, totalSteps: data.totalSteps, epoch: data.sampler.epoch(ofStep: step),
                    meanLoss: meanLoss, tokensSeen: completed * globalTokens,
                    gradientNormBeforeClip: interval.lastGradientNorm,
                    clippedFraction: Double(interval.clippedSteps) / Double(interval.steps),
                    learningRate: learningRate,
                    tokensPerSecond: Double(interval.steps * globalTokens) / max(1e-9, now - intervalStart),
                    computeSeconds: reduced[1] / Double(world.size), allreduceSeconds: reduced[2] / Double(world.size),
                    skippedSteps: interval.skippedSteps,
                    secondsRemaining: elapsed / Double(completed - startStep) * Double(data.totalSteps - completed),
                    validationLoss: nil))
                summary.finalLoss = meanLoss
                interval = IntervalAccumulator()
                intervalStart = now
            }
            if config.checkpointEvery > 0, completed % config.checkpointEvery == 0, !isLast {
                try writeCheckpoint(step: completed)
            }
            // Preemption: every rank learns of a signal any rank received, at the same step.
            let signal = try collectives.allreduce(Int(StopSignal.pending), op: .max, label: "stop agreement", step: completed)
            if signal != 0 && !isLast {
                try writeCheckpoint(step: completed)
                let saved = summary.lastCheckpoint.map { "checkpoint written to \($0); resume with --resume \(store!.directory)" }
                    ?? (store == nil ? "no checkpoint-dir was set, so nothing was saved" : "checkpoint written by rank 0")
                throw RunError.preempted("stopped by \(StopSignal.name(Int32(signal))) after step \(completed) of \(data.totalSteps); \(saved)")
            }
        }
        summary.seconds = BLAS.monotonicSeconds() - runStart
        summary.tokens = (summary.steps - startStep) * globalTokens
        if summary.steps == startStep {
            summary.parameterChecksum = try ParameterChecksum.verify(parameters, collectives: collectives, step: startStep)
        }
        if store != nil, summary.steps > startStep || summary.lastCheckpoint == nil { try writeCheckpoint(step: summary.steps) }

        if let path = config.save {
            try RankAgreement.agree(collectives, "parameter save", step: summary.steps) {
                guard world.isRoot else { return }
                do {
                    try ParameterFile.save(path: path, parameters: parameters, layout: layout,
                                           metadata: ["vocabulary": data.corpus.vocabulary.serialized, "step": String(summary.steps)])
                } catch {
                    throw RunError.fault("cannot save parameters: \(error)")
                }
            }
        }
        return summary
    }

    /// Fresh parameters (rank 0 initializes or loads `init`) or a checkpoint (`resume`),
    /// broadcast from rank 0 so that every rank starts identical. Returns the first step.
    private func initializeState(parameters: Buffer<Float>, optimizer: Optimizer, layout: ParameterLayout,
                                 data: TrainingData, progress: ProgressReporter) throws -> (Int, String?) {
        var counters = [0, 0] // first step, optimizer step count
        var resumedFrom: String?
        try RankAgreement.agree(collectives, "initial state") {
            guard world.isRoot else { return }
            if let resume = config.resume {
                let checkpoint = try CheckpointStore.newestValid(at: resume) { warning in
                    fputs(warning + "\n", stderr)
                }
                try checkpoint.verifyCompatible(shape: layout.shape, vocabulary: data.corpus.vocabulary, optimizer: config.optimizer)
                try checkpoint.restore(parameters: parameters, layout: layout, optimizer: optimizer)
                counters = [checkpoint.metadata.step, checkpoint.metadata.optimizerStepCount]
                resumedFrom = checkpoint.path
                var note = "resumed from \(checkpoint.path) at step \(checkpoint.metadata.step)"
                if checkpoint.metadata.globalBatch != data.globalBatch {
                    note += " (warning: its global batch was \(checkpoint.metadata.globalBatch), now \(data.globalBatch): the trajectory changes)"
                }
                progress.say(note)
            } else if let path = config.initFile {
                try ParameterFile.load(path: path, layout: layout, into: parameters)
            } else {
                ParameterInitializer.initialize(parameters, layout: layout,
                                                scheme: InitializationScheme(rawValue: config.initScheme) ?? .torch,
                                                seed: UInt64(config.seed))
            }
        }
        try world.broadcast(&counters, root: 0)
        try collectives.broadcast(parameters, root: 0, label: "parameter broadcast", step: counters[0])
        for state in optimizer.stateTensors {
            try collectives.broadcast(state.buffer, root: 0, label: "optimizer state broadcast", step: counters[0])
        }
        optimizer.stepCount = counters[1]
        return (counters[0], resumedFrom)
    }

    /// Opens the per-rank files the debug options ask for.
    private func debugFiles(datasetCount: Int) throws -> FileHandle? {
        if let directory = debug.pidDirectory {
            try String(getpid()).write(toFile: "\(directory)/rank-\(world.rank).pid", atomically: true, encoding: .utf8)
        }
        return try debug.traceShardsDirectory.map { directory -> FileHandle in
            let path = "\(directory)/rank-\(world.rank).txt"
            FileManager.default.createFile(atPath: path, contents: Data("sequences \(datasetCount)\n".utf8))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            handle.seekToEndOfFile()
            return handle
        }
    }

    private func header(data: TrainingData, layout: ParameterLayout) -> String {
        let perRank = data.globalBatch / world.size
        let remainder = data.globalBatch % world.size
        return """
        rnn-dist: \(world.size) rank\(world.size == 1 ? "" : "s"); data: \(data.corpus.summary)
        model: tanh RNN H=\(config.hidden), \(layout.count) parameters; T=\(config.seqLen), global batch \(data.globalBatch) \
        (\(perRank)\(remainder > 0 ? "-\(perRank + 1)" : "") per rank), \(data.totalSteps) steps, \(data.sampler.stepsPerEpoch) steps/epoch
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
}
