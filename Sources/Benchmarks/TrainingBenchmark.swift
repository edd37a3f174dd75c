import Clock
import BLAS
import BLASCore
import Buffers
import Foundation
import MPI
import RNN
import Config
import Distributed
import RunErrors
import TextData
import Trace
import Training

/// `rnn-dist bench`: real data-parallel training steps (the trainer's own DataParallelStep)
/// timed per phase on every rank, against the single-thread sgemm rate measured in the same
/// run on every rank at once and sustained for 0.5 s (so the ceiling is measured under the
/// same load, as the share of a core a long computation gets).
public struct TrainingBenchmark {
    public struct Options: Sendable {
        public var cell = CellKind.rnn
        public var layers = 1
        public var hidden = 256
        public var seqLen = 64
        public var batchPerRank = 32
        /// k micro-batches of batchPerRank sequences per rank and step (gradient accumulation).
        public var accumulate = 1
        public var vocabularySize = 65
        /// E of an input embedding table (nil: one-hot input, layer 0's W_xh is [G·H, V]).
        public var embedding: Int?
        /// The output layer's weights are the embedding table (needs embedding == hidden).
        public var tieWeights = false
        public var data: DataSource?
        public var optimizer = OptimizerKind.adam
        public var warmupSteps = 5
        public var timedSteps = 30
        /// Overlap the gradient allreduce with BPTT (the trainer's default).
        public var overlapAllreduce = true
        /// The gradient allreduce's algorithm (the trainer's `allreduce` key).
        public var allreduce = AllreduceMode.auto
        /// How two-level crosses hosts (the trainer's `two-level-cross-host` key).
        public var twoLevelCrossHost = TwoLevelCrossHostMode.auto
        /// The recurrence path (the executable's choice, RNN_DIST_KERNEL).
        /// Forced (RNN_DIST_KERNEL) or measured as training measures it (KernelSelection).
        public var kernel = KernelSelection.Request.measure
        /// Where rank 0 writes the timeline of the warm-up and timed steps (nil: none recorded).
        public var trace: String?
        public init() {}
    }

    public struct Report: Codable, Sendable {
        public var ranks: Int
        public var cell: CellKind
        public var layers: Int
        public var hidden: Int
        public var seqLen: Int
        public var batchPerRank: Int
        public var accumulate: Int
        public var vocab: Int
        public var embedding: Int?
        public var tieWeights: Bool
        public var optimizer: OptimizerKind
        public var timedSteps: Int
        public var overlapAllreduce: Bool
        /// The algorithm that ran (auto resolved), the hosts it ran on, the gradient's pieces
        /// (buckets) per step, and per step the messages that crossed hosts (all ranks) and
        /// the longest chain of cross-host exchanges one after another in a bucket (any rank).
        public var allreduceAlgorithm: String
        public var hosts: String
        /// Two-level: its cross-host stage (rings or leaders) and the median seconds of one
        /// allreduce of the gradient that chose it (nil when not timed or not two-level).
        public var twoLevelCrossHost: CrossHostStage?
        public var twoLevelSecondsRings: Double?
        public var twoLevelSecondsLeaders: Double?
        public var buckets: Int
        public var crossHostMessagesPerStep: Int
        public var sequentialCrossHostHopsPerBucket: Int
        public var tokensPerSecond: Double
        public var flopsPerToken: Double
        public var gflops: Double
        /// The OpenBLAS kernel that ran training (BLASCoreReport); the ceiling's is sgemmCore.
        public var blasCore: String
        /// The recurrence kernel's path, and its per-step products alone at [B, H] × [H, H]
        /// (forward with tanh, backward with 1 − h²) next to BLAS sgemm at the same shape.
        public var recurrenceKernel: String
        public var recurrenceForwardGFLOPs: Double
        public var recurrenceBackwardGFLOPs: Double
        public var recurrenceBLASGFLOPs: Double
        /// The candidates' times that chose the kernel (empty when it was forced or the model is too small to time).
        public var kernelTimings: [RecurrenceKernelTuner.Timing]
        /// This CPU's caches, which decide whether W_hh stays in L2 between time steps.
        public var caches: CacheHierarchy
        public var sgemmGFLOPsSingleThread: Double
        /// The best single 1024³ product of the same measurement (what the ceiling was before).
        public var sgemmGFLOPsBestProduct: Double
        public var percentOfSgemmCeiling: Double
        /// The slowest and the fastest rank's sustained rate of the same measurement (the
        /// ceiling is their mean): far apart when the ranks got unequal shares of the cores.
        public var sgemmGFLOPsSlowestRank: Double
        public var sgemmGFLOPsFastestRank: Double
        /// Where the ceiling ran: its OpenBLAS core (rank 0's), and whether in a process of its
        /// own because this process's core is narrower than the recurrence kernel (SgemmCeiling).
        public var sgemmCore: String
        public var sgemmSeparateProcess: Bool
        public var sgemmNote: String?
        public var secondsPerStep: Double
        public var forwardSeconds: Double
        public var backwardSeconds: Double
        public var allreduceSeconds: Double
        public var optimizerSeconds: Double
        public var allreducePlusOptimizerPercent: Double
        /// Mean share of the gradient whose allreduce completed while BPTT still ran.
        public var reducedDuringBackward: Double
        /// Of allreduce_s: the mean time a rank waits for the slowest rank's backward to end
        /// (per step, the slowest rank's compute time minus the ranks' mean: load imbalance,
        /// not communication); and the step's share without that wait.
        public var waitingForSlowestRankSeconds: Double
        public var communicationPlusOptimizerPercent: Double
        public var allocationsPerStep: Double
        public var peakRSSMiBPerRank: Double
        public var modelStateMiB: Double
        public var activationsMiB: Double

        enum CodingKeys: String, CodingKey {
            case ranks, cell, layers, hidden, vocab, embedding, optimizer, gflops, accumulate
            case tieWeights = "tie_weights"
            case seqLen = "seq_len", batchPerRank = "batch_per_rank", timedSteps = "timed_steps"
            case overlapAllreduce = "overlap_allreduce", allreduceAlgorithm = "allreduce", hosts, buckets
            case twoLevelCrossHost = "two_level_cross_host", twoLevelSecondsRings = "two_level_rings_s"
            case twoLevelSecondsLeaders = "two_level_leaders_s"
            case crossHostMessagesPerStep = "cross_host_messages_per_step"
            case sequentialCrossHostHopsPerBucket = "sequential_cross_host_hops_per_bucket"
            case tokensPerSecond = "tokens_per_s", flopsPerToken = "flops_per_token", blasCore = "blas_core"
            case recurrenceKernel = "recurrence_kernel", recurrenceForwardGFLOPs = "recurrence_forward_gflops"
            case recurrenceBackwardGFLOPs = "recurrence_backward_gflops", recurrenceBLASGFLOPs = "recurrence_blas_gflops"
            case kernelTimings = "kernel_timings", caches
            case sgemmGFLOPsSingleThread = "sgemm_gflops_single_thread", sgemmGFLOPsBestProduct = "sgemm_gflops_best_product"
            case percentOfSgemmCeiling = "percent_of_sgemm_ceiling"
            case sgemmGFLOPsSlowestRank = "sgemm_gflops_slowest_rank", sgemmGFLOPsFastestRank = "sgemm_gflops_fastest_rank"
            case sgemmCore = "sgemm_core", sgemmSeparateProcess = "sgemm_separate_process", sgemmNote = "sgemm_note"
            case secondsPerStep = "seconds_per_step", forwardSeconds = "forward_s", backwardSeconds = "backward_s"
            case allreduceSeconds = "allreduce_s", optimizerSeconds = "optimizer_s"
            case allreducePlusOptimizerPercent = "allreduce_plus_optimizer_percent"
            case reducedDuringBackward = "reduced_during_backward", waitingForSlowestRankSeconds = "waiting_for_slowest_rank_s"
            case communicationPlusOptimizerPercent = "communication_plus_optimizer_percent"
            case allocationsPerStep = "allocations_per_step", peakRSSMiBPerRank = "peak_rss_mib_per_rank"
            case modelStateMiB = "model_state_mib", activationsMiB = "activations_mib"
        }
    }

    public let options: Options
    public let world: Communicator
    /// Process-wide allocation calls so far (the executable interposes malloc to count them).
    public let allocationCount: () -> UInt64

    /// Which OpenBLAS kernel runs (the executable's report), for the report.
    public let blas: BLASCoreReport
    /// Measures the ceiling where the source says (the executable can start a process; the
    /// default measures here whatever the source).
    public let measureCeiling: (SgemmCeilingSource) -> SgemmCeiling

    public init(options: Options, world: Communicator, blas: BLASCoreReport, allocationCount: @escaping () -> UInt64,
                measureCeiling: ((SgemmCeilingSource) -> SgemmCeiling)? = nil) {
        self.options = options
        self.blas = blas
        self.world = world
        self.allocationCount = allocationCount
        self.measureCeiling = measureCeiling ?? { _ in SgemmCeiling.measureHere(core: blas.library.coreName) }
    }

    public func run() throws -> Report {
        let (tokens, vocabularySize) = try corpusTokens()
        let architecture = ModelArchitecture(cell: options.cell, layers: options.layers, hiddenSize: options.hidden,
                                             vocabularySize: vocabularySize, embeddingSize: options.embedding,
                                             tiedWeights: options.tieWeights)
        let layout = ModelLayout(architecture: architecture)
        let globalBatch = options.batchPerRank * world.size * options.accumulate
        let dataset = SequenceDataset(tokens: tokens, sequenceLength: options.seqLen)
        guard dataset.count >= 1 else { throw RunError.badInput("the benchmark corpus is shorter than one sequence") }
        let sampler = DistributedSampler(datasetCount: dataset.count, globalBatch: globalBatch, rankCount: world.size,
                                         rank: world.rank, shuffle: true, seed: 1)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(parameters, layout: layout, scheme: .torch, seed: 1)
        var config = TrainingConfig()
        config.optimizer = options.optimizer
        let optimizer = try OptimizerFactory.make(config: config, count: layout.count)
        let collectives = Collectives(world: world, watchdog: CollectiveWatchdog(world: world, timeoutSeconds: 0),
                                      checkFingerprints: false)
        let topology = try HostTopology.discover(world)
        let trace: TraceRecorder = options.trace == nil ? .off() : .on()
        let traceFile = try RankAgreement.agree(collectives, "trace file check") { () throws -> TraceFile? in
            guard world.isRoot, let path = options.trace else { return nil }
            do { return try TraceFile(path: path) } catch { throw RunError.badInput("cannot write the trace: \(error)") }
        }
        let synchronizer = try GradientSynchronizer(collectives: collectives, clipMode: .norm, clipThreshold: 5, clipScope: .global,
                                                gradientCount: layout.count, overlap: options.overlapAllreduce,
                                                algorithm: options.allreduce.algorithm(on: topology),
                                                crossHost: options.twoLevelCrossHost, topology: topology,
                                                trace: trace)
        let batches = BatchSource.sequences(SequenceBatches(dataset: dataset, sampler: sampler))
        let decision = try KernelSelection.decide(options.kernel, recorded: nil, architecture: architecture,
                                                  batchPerRank: options.batchPerRank, sequenceLength: options.seqLen,
                                                  collectives: collectives)
        let stepper = DataParallelStep(parameters: parameters, optimizer: optimizer, batches: batches,
                                       architecture: architecture, dropout: nil,
                                       synchronizer: synchronizer, globalBatch: globalBatch, kernel: decision.kernel,
                                       accumulation: options.accumulate, trace: trace)

        // The ceiling: single-thread sgemm, measured on every rank at the same time, its
        // sustained rate: training is timed over many steps, and where another process shares
        // the cores the best single product is one the scheduler happened to leave alone. It
        // runs the widest instructions the run's own code runs (SgemmCeilingSource).
        let source = SgemmCeilingSource.choose(for: decision.kernel, blas: blas)
        try world.barrier()
        let ceiling = measureCeiling(source)
        var rates = [ceiling.rate.sustained, ceiling.rate.best]
        try world.allreduce(&rates, op: .sum)
        let (sgemm, sgemmBest) = (rates[0] / Double(world.size), rates[1] / Double(world.size))
        // The spread: where more processes than cores share a machine, the scheduler may leave
        // one rank a core of its own and make another share one, and a step waits for the slowest.
        var spread = [ceiling.rate.sustained, -ceiling.rate.sustained]
        try world.allreduce(&spread, op: .min)
        let (sgemmSlowest, sgemmFastest) = (spread[0], -spread[1])

        try ChromeTrace.align(trace, world: world)
        for step in 0..<options.warmupSteps { _ = try stepper.run(step: step, learningRate: 1e-3) }
        try world.barrier()
        // compute (forward+backward), allreduce, optimizer, share reduced during the backward
        var phases = [0.0, 0.0, 0.0, 0.0]
        var computePerStep = [Double](repeating: 0, count: options.timedSteps)
        let allocationsBefore = allocationCount()
        let start = MonotonicClock.seconds()
        for index in 0..<options.timedSteps {
            let result = try stepper.run(step: options.warmupSteps + index, learningRate: 1e-3)
            phases[0] += result.computeSeconds
            phases[1] += result.allreduceSeconds
            phases[2] += result.optimizerSeconds
            phases[3] += result.reducedDuringBackward
            computePerStep[index] = result.computeSeconds
        }
        let allocations = Double(allocationCount() - allocationsBefore) / Double(options.timedSteps)
        try world.barrier()
        let elapsed = try world.allreduce(MonotonicClock.seconds() - start, op: .max)

        // The forward pass alone, on the same batches, to split compute into forward and backward
        // (with accumulation: the step's first micro-batch, k times, as the step runs k of that size).
        let forwardStart = MonotonicClock.seconds()
        for step in 0..<options.timedSteps {
            let (batchSize, _) = try batches.fill(step: step, inputs: stepper.inputs, targets: stepper.targets)
            for _ in 0..<options.accumulate {
                _ = stepper.workspace.forward(parameters: parameters, inputs: stepper.inputs, targets: stepper.targets,
                                              batchSize: min(batchSize, stepper.workspace.maxBatchSize), initialState: nil)
            }
        }
        let forward = MonotonicClock.seconds() - forwardStart
        if trace.isOn {
            let note = "rnn-dist bench: \(world.size) ranks, \(architecture.summary), \(options.warmupSteps) warm-up steps then \(options.timedSteps) timed"
            if let bytes = try ChromeTrace.gather(trace, world: world, note: note), let traceFile {
                do { try traceFile.write(bytes) } catch { throw RunError.fault("cannot write the trace: \(error)") }
            }
        }

        var perRank = [phases[0], phases[1], phases[2], forward, phases[3]]
        try world.allreduce(&perRank, op: .sum)
        let steps = Double(options.timedSteps * world.size)
        let (compute, allreduce, update, forwardMean) = (perRank[0] / steps, perRank[1] / steps, perRank[2] / steps, perRank[3] / steps)
        let waiting = try Self.waitingForSlowestRank(computePerStep, world: world)
        let peakRSS = try world.allreduce(Self.peakResidentMiB(), op: .max)
        // The last timed step's round (every step's is the same).
        let traffic = synchronizer.ring.traffic
        let crossHostMessages = try world.allreduce(traffic.crossHostMessages, op: .sum)
        let crossHostHops = try world.allreduce(traffic.sequentialCrossHostHops, op: .max)
        let secondsPerStep = elapsed / Double(options.timedSteps)
        let tokensPerSecond = Double(globalBatch * options.seqLen) / secondsPerStep
        let flopsPerToken = Self.flopsPerToken(architecture)
        let gflops = tokensPerSecond * flopsPerToken / 1e9
        let recurrence = KernelBenchmark.measureRecurrence(kernel: decision.kernel, hiddenSize: options.hidden,
                                                           batchSize: options.batchPerRank, sequenceLength: options.seqLen, seed: 3)
        // Per layer and row h, the G·H pre-activations and their gradient (the tanh RNN: h, a,
        // da); per row logits and probabilities; in Float.
        // parameters, gradients, optimizer state, and with accumulation the micro-batches' gradient sum
        let stateTensors = 2 + optimizer.stateTensors.count + (options.accumulate > 1 ? 1 : 0)
        let rows = Double(options.batchPerRank * options.seqLen)
        let G = options.cell.gateCount
        let floatsPerRow: Int = options.layers * (2 * G + 1) * options.hidden + 2 * vocabularySize + (options.embedding ?? 0)
        let activationsMiB: Double = rows * Double(floatsPerRow) * 4 / 1_048_576
        return Report(
            ranks: world.size, cell: options.cell, layers: options.layers, hidden: options.hidden, seqLen: options.seqLen,
            batchPerRank: options.batchPerRank, accumulate: options.accumulate,
            vocab: vocabularySize, embedding: options.embedding, tieWeights: options.tieWeights, optimizer: options.optimizer, timedSteps: options.timedSteps,
            overlapAllreduce: options.overlapAllreduce,
            allreduceAlgorithm: synchronizer.algorithm.rawValue, hosts: topology.description,
            twoLevelCrossHost: synchronizer.crossHost?.stage, twoLevelSecondsRings: synchronizer.crossHost?.secondsRings,
            twoLevelSecondsLeaders: synchronizer.crossHost?.secondsLeaders, buckets: synchronizer.pieceCount,
            crossHostMessagesPerStep: crossHostMessages, sequentialCrossHostHopsPerBucket: crossHostHops,
            tokensPerSecond: tokensPerSecond, flopsPerToken: flopsPerToken, gflops: gflops,
            blasCore: blas.description,
            recurrenceKernel: decision.kernel.description,
            recurrenceForwardGFLOPs: recurrence.forward, recurrenceBackwardGFLOPs: recurrence.backward,
            recurrenceBLASGFLOPs: recurrence.blas,
            kernelTimings: decision.timings.filter { $0.secondsPerStep.isFinite }, caches: CacheHierarchy.detect(),
            sgemmGFLOPsSingleThread: sgemm, sgemmGFLOPsBestProduct: sgemmBest, percentOfSgemmCeiling: 100 * gflops / (Double(world.size) * sgemm),
            sgemmGFLOPsSlowestRank: sgemmSlowest, sgemmGFLOPsFastestRank: sgemmFastest,
            sgemmCore: ceiling.core, sgemmSeparateProcess: ceiling.separateProcess, sgemmNote: ceiling.note,
            secondsPerStep: secondsPerStep, forwardSeconds: forwardMean, backwardSeconds: compute - forwardMean,
            allreduceSeconds: allreduce, optimizerSeconds: update,
            allreducePlusOptimizerPercent: 100 * (allreduce + update) / secondsPerStep,
            reducedDuringBackward: perRank[4] / steps, waitingForSlowestRankSeconds: waiting,
            communicationPlusOptimizerPercent: 100 * (max(0, allreduce - waiting) + update) / secondsPerStep,
            allocationsPerStep: allocations, peakRSSMiBPerRank: peakRSS,
            modelStateMiB: Double(stateTensors * layout.count * 4) / 1_048_576,
            activationsMiB: activationsMiB)
    }

    /// Training FLOPs per token (forward + backward = 3 × the forward's 2 per multiply-add):
    /// per layer the recurrence [H] × [H, G·H], 6·G·H²; per layer above the first the input
    /// projection [H] × [H, G·H], another 6·G·H² (layer 0 reads a one-hot x: a column lookup);
    /// the output layer 6·H·V. The tanh RNN (G = 1, L = 1): 6H² + 6HV; the LSTM: 24H² + 6HV.
    /// With an embedding of E, layer 0 reads [E] × [E, G·H]: another 6·G·H·E (the table's gather
    /// and scatter-add are copies, counted as none; tying changes no product).
    public static func flopsPerToken(_ a: ModelArchitecture) -> Double {
        let H = Double(a.hiddenSize), G = Double(a.cell.gateCount), E = Double(a.embeddingSize ?? 0)
        return Double(a.layers) * 6 * G * H * H + Double(a.layers - 1) * 6 * G * H * H + 6 * G * H * E
            + 6 * H * Double(a.vocabularySize)
    }

    /// Training tokens: a corpus file, or uniform random tokens over the vocabulary size.
    private func corpusTokens() throws -> (TokenSequence, Int) {
        if let data = options.data {
            let corpus = try data.load(tokenizer: .chars, validationFraction: 0)
            return (corpus.train, corpus.vocabulary.count)
        }
        var generator = SeededGenerator(seed: 7)
        let count = max(4, options.warmupSteps + options.timedSteps) * options.batchPerRank * world.size * options.seqLen + 1
        let tokens = (0..<count).map { _ in Int32(generator.next() % UInt64(options.vocabularySize)) }
        return (TokenSequence(tokens), options.vocabularySize)
    }

    static func peakResidentMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    }

    /// Per step, the slowest rank's forward+backward time minus the ranks' mean, averaged over
    /// the steps: what the allreduce spends waiting for a rank still computing. The ranks start
    /// each step together (the previous allreduce ends on all of them within one message), so
    /// the spread of their compute times is the spread of their arrivals.
    static func waitingForSlowestRank(_ computePerStep: [Double], world: Communicator) throws -> Double {
        let steps = computePerStep.count, ranks = world.size
        guard ranks > 1, steps > 0 else { return 0 }
        var all = [Double](repeating: 0, count: steps * ranks)
        for index in 0..<steps { all[world.rank * steps + index] = computePerStep[index] }
        try world.allreduce(&all, op: .sum)
        var total = 0.0
        for index in 0..<steps {
            let times = (0..<ranks).map { all[$0 * steps + index] }
            total += times.max()! - times.reduce(0, +) / Double(ranks)
        }
        return total / Double(steps)
    }
}
