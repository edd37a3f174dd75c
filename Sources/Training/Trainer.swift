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
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

/// Test hooks that are not part of the configuration: they make faults happen on purpose.
public struct TrainingDebugOptions: Sendable {
    /// After the first step, this rank nudges one parameter (the checksum must catch it).
    public var perturbRank: Int?
    /// Each rank writes the sequence indices it trained on to DIR/rank-R.txt.
    public var traceShardsDirectory: String?
    public init(perturbRank: Int? = nil, traceShardsDirectory: String? = nil) {
        self.perturbRank = perturbRank
        self.traceShardsDirectory = traceShardsDirectory
    }
}

/// Synchronous data-parallel training (DESIGN §1): every rank runs forward and BPTT on its
/// shard, one allreduce sums the token-weighted gradients, every rank applies the same step.
public final class Trainer {
    public let config: TrainingConfig
    private let world: Communicator
    private let debug: TrainingDebugOptions

    public init(config: TrainingConfig, world: Communicator = .world, debug: TrainingDebugOptions = .init()) {
        self.config = config
        self.world = world
        self.debug = debug
    }

    public func run() throws -> TrainingSummary {
        var loaded: TrainingData?
        try RankAgreement.agree(world) { loaded = try TrainingData(config: config, world: world) }
        let data = loaded!
        let shape = RNNShape(vocabularySize: data.corpus.vocabulary.count, hiddenSize: config.hidden)
        let layout = ParameterLayout(shape: shape)
        let reporter = try makeReporter(entropyFloor: data.corpus.entropyFloor)

        // Rank 0 initializes (or loads) the parameters; every rank starts from its copy.
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        try RankAgreement.agree(world) {
            guard world.isRoot else { return }
            if let path = config.initFile {
                try ParameterFile.load(path: path, layout: layout, into: parameters)
            } else {
                ParameterInitializer.initialize(parameters, layout: layout,
                                                scheme: InitializationScheme(rawValue: config.initScheme) ?? .torch,
                                                seed: UInt64(config.seed))
            }
        }
        try world.broadcast(parameters, root: 0)

        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        let optimizer = try OptimizerFactory.make(config: config, count: layout.count)
        let schedule = OptimizerFactory.schedule(config: config, totalSteps: data.totalSteps)
        let workspace = BPTTWorkspace<Float>(shape: shape, maxBatchSize: data.maxShardSize, sequenceLength: config.seqLen)
        let inputs = Buffer<Int32>(count: data.maxShardSize * config.seqLen, repeating: 0)
        let targets = Buffer<Int32>(count: data.maxShardSize * config.seqLen, repeating: 0)
        let synchronizer = GradientSynchronizer(world: world, clipMode: config.clipMode,
                                                clipThreshold: config.clip, clipScope: config.clipScope)
        let globalTokens = data.globalBatch * config.seqLen

        reporter.say(header(data: data, layout: layout))

        var interval = IntervalAccumulator()
        var summary = TrainingSummary(steps: 0, tokens: 0, seconds: 0, finalLoss: .nan,
                                      entropyFloor: data.corpus.entropyFloor, skippedSteps: 0, clippedSteps: 0)
        let shardTrace = try debug.traceShardsDirectory.map { directory -> FileHandle in
            let path = "\(directory)/rank-\(world.rank).txt"
            FileManager.default.createFile(atPath: path, contents: Data("sequences \(data.train.count)\n".utf8))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            handle.seekToEndOfFile()
            return handle
        }
        let runStart = BLAS.monotonicSeconds()
        var intervalStart = runStart

        for step in 0..<data.totalSteps {
            let computeStart = BLAS.monotonicSeconds()
            let shard = data.sampler.shard(step: step)
            shardTrace?.write(Data((["\(step)"] + shard.map(String.init)).joined(separator: " ").appending("\n").utf8))
            data.train.fill(sequences: shard, inputs: inputs, targets: targets)
            let lossSum = workspace.forwardBackward(
                parameters: parameters, inputs: inputs, targets: targets, batchSize: shard.count,
                initialHidden: nil, tokenCountForMean: globalTokens, gradients: gradients)
            interval.computeSeconds += BLAS.monotonicSeconds() - computeStart

            let localFraction = Double(shard.count * config.seqLen) / Double(globalTokens)
            let (outcome, allreduceSeconds) = try synchronizer.synchronize(gradients, localTokenFraction: localFraction)
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
                    throw RunError.fault("non-finite gradient (norm \(norm)) at step \(step + 1); stopping as on-nonfinite: stop asks")
                }
            }
            interval.computeSeconds += BLAS.monotonicSeconds() - updateStart
            if step == 0, debug.perturbRank == world.rank { parameters[0] += 1e-3 }
            interval.lossSum += lossSum
            interval.steps += 1

            let completed = step + 1
            let isLast = completed == data.totalSteps
            if config.checksumEvery > 0 && completed % config.checksumEvery == 0 || isLast {
                summary.parameterChecksum = try ParameterChecksum.verify(parameters, world: world, step: completed)
            }
            if completed % config.logEvery == 0 || isLast {
                // One small allreduce per log step gives the global loss of the interval.
                var reduced = [interval.lossSum, interval.computeSeconds, interval.allreduceSeconds]
                try world.allreduce(&reduced, op: .sum)
                let now = BLAS.monotonicSeconds()
                let meanLoss = reduced[0] / Double(interval.steps * globalTokens)
                let elapsed = now - runStart
                reporter.report(IntervalReport(
                    step: completed, totalSteps: data.totalSteps, epoch: data.sampler.epoch(ofStep: step),
                    meanLoss: meanLoss, tokensSeen: completed * globalTokens,
                    gradientNormBeforeClip: interval.lastGradientNorm,
                    clippedFraction: Double(interval.clippedSteps) / Double(interval.steps),
                    learningRate: learningRate,
                    tokensPerSecond: Double(interval.steps * globalTokens) / max(1e-9, now - intervalStart),
                    computeSeconds: reduced[1] / Double(world.size), allreduceSeconds: reduced[2] / Double(world.size),
                    skippedSteps: interval.skippedSteps,
                    secondsRemaining: elapsed / Double(completed) * Double(data.totalSteps - completed),
                    validationLoss: nil))
                summary.finalLoss = meanLoss
                interval = IntervalAccumulator()
                intervalStart = now
            }
            summary.steps = completed
        }
        summary.seconds = BLAS.monotonicSeconds() - runStart
        summary.tokens = summary.steps * globalTokens

        if let path = config.save {
            try RankAgreement.agree(world) {
                guard world.isRoot else { return }
                try ParameterFile.save(path: path, parameters: parameters, layout: layout,
                                       metadata: ["vocabulary": data.corpus.vocabulary.serialized,
                                                  "step": String(summary.steps)])
            }
        }
        return summary
    }

    private func makeReporter(entropyFloor: Double?) throws -> ProgressReporter {
        var reporter: ProgressReporter?
        try RankAgreement.agree(world) {
            reporter = try ProgressReporter(quiet: config.quiet || !world.isRoot, entropyFloor: entropyFloor,
                                            metricsPath: world.isRoot ? config.metrics : nil)
        }
        return reporter!
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
