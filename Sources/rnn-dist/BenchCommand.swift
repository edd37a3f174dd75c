import ArgumentParser
import BLAS
import BLASCore
import CAllocationCounter
import Foundation
import MPI
import RNN
import Training
import Benchmarks
import Config
import TextData

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training speed (tokens/s, GFLOP/s) against this machine's sgemm rate.",
        discussion: """
        Default: real data-parallel training steps under mpirun (any rank count), timed per phase. \
        --kernel: the model's forward+backward alone, one process. --allreduce: allreduce latency \
        and bandwidth at the gradient sizes, with the ring model fitted. --hops: one ring hop's latency \
        in this job's layout (MPI_Sendrecv rings: all ranks, within each host, across hosts). --blas: the OpenBLAS kernel \
        that runs, who chose it, and its single-thread sgemm rate.
        """
    )

    @Flag(help: "Time the model's forward+backward alone on one process (no MPI traffic).") var kernel = false
    @Flag(help: "Measure allreduce latency and bandwidth for the gradient buffer sizes.") var allreduce = false
    @Flag(help: "Measure one ring hop's latency in this job's layout: every rank at once in one ring, in rings within each host, in rings across the hosts (plain MPI_Sendrecv).")
    var hops = false
    @Option(name: .customLong("hop-floats"), help: "Floats per message of --hops (default 16: latency alone).")
    var hopFloats: Int = 16
    @Flag(help: "Show the OpenBLAS kernel in use and who chose it, with its single-thread sgemm rate (one process).") var blas = false
    @Option(help: "Cell of every layer: rnn, lstm or gru (training bench).") var cell: CellKind = .rnn
    @Option(help: "L, stacked layers (training bench).") var layers: Int = 1
    @Option(help: "H, hidden units.") var hidden: Int = 256
    @Option(name: .customLong("seq-len"), help: "T.") var seqLen: Int = 64
    @Option(name: .customLong("batch-per-rank"), help: "Sequences per rank (per micro-batch with --accumulate).") var batchPerRank: Int = 32
    @Option(help: "k, micro-batches per rank per step (gradient accumulation; training bench).") var accumulate: Int = 1
    @Option(help: "Vocabulary size of the synthetic input (ignored with --data).") var vocab: Int = 65
    @Option(help: "E: an input embedding table [V, E] instead of one-hot input (training bench; the `embedding` key of train).")
    var embedding: Int?
    @Flag(name: .customLong("tie-weights"), help: "The output layer's weights are the embedding table; needs --embedding equal to --hidden (training bench).")
    var tieWeights = false
    @Option(help: "A corpus file to train on instead of random tokens.") var data: String?
    @Option(help: "sgd, adam or adagrad.") var optimizer: OptimizerKind = .adam
    @Option(help: "Warm-up steps.") var warmup: Int = 5
    @Option(help: "Timed steps.") var timed: Int = 30
    @Flag(inversion: .prefixedNo, help: "Overlap the gradient allreduce with BPTT, as training does by default (training bench).")
    var overlapAllreduce = true
    @Option(name: .customLong("allreduce-mode"),
            help: "The gradient allreduce: auto, ring, two-level or mpi (training bench; the `allreduce` key of train).")
    var allreduceMode: AllreduceMode = .auto
    @Option(name: .customLong("two-level-cross-host"),
            help: "How two-level crosses hosts: auto (timed at start), rings or leaders (training bench; the `two-level-cross-host` key of train).")
    var twoLevelCrossHost: TwoLevelCrossHostMode = .auto
    @Option(help: "Write a Chrome trace-event timeline of every rank's warm-up and timed steps to this file (training bench; ui.perfetto.dev, chrome://tracing).")
    var trace: String?
    @Flag(help: "Print JSON (rank 0).") var json = false
    /// The ceiling's separate process (SgemmCeilingProcess): one JSON line, no MPI.
    @Flag(name: .customLong("sgemm-ceiling"), help: .hidden) var sgemmCeiling = false

    func validate() throws {
        guard hidden > 0, seqLen > 0, batchPerRank > 0, vocab > 1, timed > 0, warmup >= 0, layers >= 1, accumulate >= 1 else {
            throw ValidationError("hidden, seq-len, batch-per-rank, timed, layers and accumulate must be positive, vocab > 1, warmup >= 0")
        }
        if trace != nil && (kernel || allreduce || hops || blas) {
            throw ValidationError("--trace records the training bench; drop --kernel, --allreduce, --hops or --blas")
        }
        if [kernel, allreduce, hops, blas].filter({ $0 }).count > 1 {
            throw ValidationError("--kernel, --allreduce, --hops and --blas are separate benchmarks: choose one")
        }
        if kernel && (cell != .rnn || layers != 1 || embedding != nil) {
            throw ValidationError("--kernel times the one-layer tanh RNN only; drop --cell/--layers/--embedding or --kernel")
        }
        guard hopFloats > 0 else { throw ValidationError("--hop-floats must be positive, got \(hopFloats)") }
        if let embedding, embedding <= 0 { throw ValidationError("--embedding must be positive, got \(embedding)") }
        if tieWeights && embedding != hidden {
            throw ValidationError("--tie-weights needs --embedding equal to --hidden (\(hidden)), got \(embedding.map(String.init) ?? "none")")
        }
    }

    func run() throws {
        if sgemmCeiling { return try printJSON(SgemmCeilingProcess.measureInThisProcess()) }
        // A bad RNN_DIST_KERNEL (unknown, or a path this CPU lacks) stops the bench here.
        if kernel { return try runKernel(try RecurrenceKernel.fromEnvironment()) }
        let recurrenceKernel = try KernelSelection.Request.fromEnvironment()
        if blas { return try runBLAS() }
        BLAS.threadCount = 1
        ExitReporter.run { world in
            if allreduce {
                let report = try AllreduceBenchmark(world: world).run()
                guard world.isRoot else { return }
                if json { return try printJSON(report) }
                print("allreduce on \(report.ranks) ranks (in place, Float, median of repeats):")
                for m in report.measurements {
                    print(String(format: "  %10d floats %10.1f us %8.2f GB/s bus   %@", m.elements, m.medianMicroseconds,
                                 m.busGBPerSecond, m.label))
                }
                print(String(format: "ring model fit: alpha %.2f us per step, beta %.2f GB/s", report.latencyMicroseconds,
                             report.bandwidthGBPerSecond))
                return
            }
            if hops {
                let topology = try HostTopology.discover(world)
                let report = try HopBenchmark(world: world, topology: topology, elements: hopFloats).run()
                guard world.isRoot else { return }
                if json { return try printJSON(report) }
                print("one ring hop on \(report.ranks) ranks (\(report.topology)), \(report.messageBytes)-byte MPI_Sendrecv, "
                      + "every rank at once; median of \(report.rounds) rounds × \(report.exchangesPerRound) exchanges, slowest rank:")
                for pattern in HostTopology.Ring.allCases {
                    let value = report.hopMicroseconds[pattern.rawValue].map { String(format: "%.1f us", $0) } ?? "no ring here"
                    print("  \(pattern.rawValue.replacingOccurrences(of: "_", with: " ")): \(value)")
                }
                return
            }
            var options = TrainingBenchmark.Options()
            options.cell = cell; options.layers = layers; options.hidden = hidden; options.seqLen = seqLen; options.batchPerRank = batchPerRank
            options.accumulate = accumulate
            options.embedding = embedding; options.tieWeights = tieWeights
            options.vocabularySize = vocab; options.data = try data.map(DataSource.init(parsing:)); options.optimizer = optimizer
            options.warmupSteps = warmup; options.timedSteps = timed; options.overlapAllreduce = overlapAllreduce
            options.allreduce = allreduceMode
            options.twoLevelCrossHost = twoLevelCrossHost
            options.kernel = recurrenceKernel
            options.trace = trace
            let blas = BLASCoreReport.current
            let report = try TrainingBenchmark(options: options, world: world, blas: blas,
                                               allocationCount: { rnn_dist_allocation_count() },
                                               measureCeiling: { SgemmCeilingProcess.measure($0, here: blas.library.coreName) }).run()
            guard world.isRoot else { return }
            if json { return try printJSON(report) }
            print(describe(report))
            if let trace { print("trace written to \(trace) (open it in ui.perfetto.dev or chrome://tracing)") }
        }
    }

    private func describe(_ r: TrainingBenchmark.Report) -> String {
        let ms = { (seconds: Double) in String(format: "%.2f ms", seconds * 1e3) }
        let timed = r.kernelTimings.sorted { $0.secondsPerStep < $1.secondsPerStep }
            .map { "\($0.kernel) \(String(format: "%.1f", $0.gflops))" }.joined(separator: ", ")
        let candidates = timed.isEmpty ? "" : "\n  kernel candidates   \(timed) GFLOP/s (the model's per-step products, slowest rank)"
        return """
        bench: \(r.ranks) rank\(r.ranks == 1 ? "" : "s"), \(r.cell) L=\(r.layers) H=\(r.hidden) T=\(r.seqLen) B=\(r.batchPerRank)/rank\(r.accumulate > 1 ? " x \(r.accumulate) micro-batches" : "") V=\(r.vocab)\(r.embedding.map { " E=\($0)\(r.tieWeights ? " tied" : "")" } ?? ""), \(r.optimizer), \(r.timedSteps) timed steps, allreduce \(r.allreduceAlgorithm)\(r.twoLevelCrossHost.map { " (across hosts: \($0.rawValue))" } ?? "") on \(r.hosts) \(r.overlapAllreduce ? "overlapped with BPTT" : "after BPTT")
          tokens/s            \(Int(r.tokensPerSecond))
          GFLOP/s             \(String(format: "%.1f", r.gflops)) (\(Int(r.flopsPerToken)) FLOPs/token)
          BLAS                \(r.blasCore)
          recurrence          \(r.recurrenceKernel)\(candidates)
          caches              \(r.caches.summary)
          at [B,H]x[H,H]      forward \(String(format: "%.1f", r.recurrenceForwardGFLOPs)), backward \(String(format: "%.1f", r.recurrenceBackwardGFLOPs)) GFLOP/s (BLAS there: \(String(format: "%.1f", r.recurrenceBLASGFLOPs)))
          sgemm 1 thread      \(String(format: "%.1f", r.sgemmGFLOPsSingleThread)) GFLOP/s per core sustained for 0.5 s (1024^3, this run, \(r.sgemmSeparateProcess ? "OpenBLAS \(r.sgemmCore) in a separate process: \(r.sgemmNote ?? "")" : "same kernel\(r.sgemmNote.map { ", \($0)" } ?? "")"); best product \(String(format: "%.1f", r.sgemmGFLOPsBestProduct))\(r.ranks > 1 ? String(format: "; ranks %.1f to %.1f", r.sgemmGFLOPsSlowestRank, r.sgemmGFLOPsFastestRank) : ""))
          of ranks x sgemm    \(String(format: "%.1f", r.percentOfSgemmCeiling))%
          step                \(ms(r.secondsPerStep)): forward \(ms(r.forwardSeconds)), backward \(ms(r.backwardSeconds)), allreduce \(ms(r.allreduceSeconds)), optimizer \(ms(r.optimizerSeconds))
          allreduce+optimizer \(String(format: "%.2f", r.allreducePlusOptimizerPercent))% of the step (\(String(format: "%.2f", r.communicationPlusOptimizerPercent))% without the \(ms(r.waitingForSlowestRankSeconds)) spent waiting for the slowest rank)
          overlap             \(String(format: "%.0f", 100 * r.reducedDuringBackward))% of the gradient reduced while BPTT ran
          across hosts        \(r.crossHostMessagesPerStep) messages per step, \(r.sequentialCrossHostHopsPerBucket) sequential hops per bucket (\(r.buckets) bucket\(r.buckets == 1 ? "" : "s"))
          allocations/step    \(String(format: "%.2f", r.allocationsPerStep))
          peak RSS per rank   \(String(format: "%.1f", r.peakRSSMiBPerRank)) MiB (model state \(String(format: "%.1f", r.modelStateMiB)) MiB, activations ~\(String(format: "%.1f", r.activationsMiB)) MiB)
        """
    }

    private func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// What `--blas` prints: the kernel report and sgemm on it, single thread.
    struct BLASReport: Encodable {
        let blas: BLASCoreReport
        let caches: CacheHierarchy
        let sgemm1024: Double
        let sgemm2048: Double
        enum CodingKeys: String, CodingKey { case blas, caches, sgemm1024 = "sgemm_gflops_1024", sgemm2048 = "sgemm_gflops_2048" }
    }

    private func runBLAS() throws {
        BLAS.threadCount = 1
        let report = BLASReport(blas: BLASCoreReport.current, caches: CacheHierarchy.detect(), sgemm1024: BLAS.measureSgemmGFLOPs(size: 1024, repeats: 5),
                                sgemm2048: BLAS.measureSgemmGFLOPs(size: 2048, repeats: 3))
        if json { return try printJSON(report) }
        print("""
        BLAS     \(report.blas.description)
        CPU      \(report.blas.cpu.summary)
        caches   \(report.caches.summary)
        sgemm    \(String(format: "%.1f", report.sgemm1024)) GFLOP/s at 1024^3, \(String(format: "%.1f", report.sgemm2048)) at 2048^3 (1 thread)
        """)
    }

    private func runKernel(_ recurrenceKernel: RecurrenceKernel) throws {
        BLAS.threadCount = 1
        let blas = BLASCoreReport.current
        let source = SgemmCeilingSource.choose(for: recurrenceKernel, blas: blas)
        var ceiling: SgemmCeiling?
        var result = KernelBenchmark.run(shape: RNNShape(vocabularySize: vocab, hiddenSize: hidden), sequenceLength: seqLen,
                                         batchSize: batchPerRank, warmupSteps: warmup, timedSteps: timed, seed: 1,
                                         kernel: recurrenceKernel, measureSgemmGFLOPs: {
                                             let measured = SgemmCeilingProcess.measure(source, here: blas.library.coreName)
                                             ceiling = measured
                                             return measured.rate.best
                                         })
        result.sgemmCore = ceiling?.core
        result.sgemmSeparateProcess = ceiling?.separateProcess
        result.sgemmNote = ceiling?.note
        if json { return try printJSON(result) }
        print("kernel H=\(hidden) T=\(seqLen) B=\(batchPerRank) V=\(vocab): "
            + "\(Int(result.tokensPerSecond)) tokens/s, \(String(format: "%.1f", result.gflops)) GFLOP/s, "
            + "\(String(format: "%.0f", result.percentOfSgemm))% of sgemm (\(String(format: "%.1f", result.sgemmGFLOPs)) GFLOP/s, 1024^3, same run, OpenBLAS \(ceiling?.summary ?? "?"))")
        print("recurrence [\(batchPerRank), \(hidden)] x [\(hidden), \(hidden)], kernel \(recurrenceKernel): "
            + String(format: "forward %.1f GFLOP/s, backward %.1f GFLOP/s; BLAS sgemm at this shape %.1f GFLOP/s",
                     result.forwardRecurrenceGFLOPs, result.backwardRecurrenceGFLOPs, result.blasRecurrenceGFLOPs))
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension CellKind: ExpressibleByArgument {}
extension AllreduceMode: ExpressibleByArgument {}
extension TwoLevelCrossHostMode: ExpressibleByArgument {}
