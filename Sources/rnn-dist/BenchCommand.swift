import ArgumentParser
import BLAS
import Foundation
import MPI
import RNN

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training speed (tokens/s, GFLOP/s) against this machine's sgemm rate."
    )

    @Flag(help: "Time the model's forward+backward alone on one process (no MPI traffic).") var kernel = false
    @Option(help: "H, hidden units.") var hidden: Int = 256
    @Option(name: .customLong("seq-len"), help: "T.") var seqLen: Int = 64
    @Option(name: .customLong("batch-per-rank"), help: "Sequences per rank.") var batchPerRank: Int = 32
    @Option(help: "Vocabulary size of the synthetic input.") var vocab: Int = 65
    @Option(help: "Warm-up steps.") var warmup: Int = 3
    @Option(help: "Timed steps.") var timed: Int = 20
    @Option(help: "BLAS threads (default 1).") var threads: Int = 1
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        BLAS.threadCount = threads
        let result = KernelBenchmark.run(shape: RNNShape(vocabularySize: vocab, hiddenSize: hidden), sequenceLength: seqLen,
                                         batchSize: batchPerRank, warmupSteps: warmup, timedSteps: timed, seed: 1)
        if json {
            let record: [String: Any] = [
                "mode": "kernel", "hidden": hidden, "seq_len": seqLen, "batch": batchPerRank, "vocab": vocab,
                "tokens_per_s": result.tokensPerSecond, "gflops": result.gflops,
                "sgemm_gflops_single_thread": result.sgemmGFLOPs, "percent_of_sgemm": result.percentOfSgemm,
                "flops_per_token": result.flopsPerToken, "seconds_per_step": result.secondsPerStep, "ranks": 1,
            ]
            let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("kernel H=\(hidden) T=\(seqLen) B=\(batchPerRank) V=\(vocab): "
                + "\(Int(result.tokensPerSecond)) tokens/s, \(String(format: "%.1f", result.gflops)) GFLOP/s, "
                + "\(String(format: "%.0f", result.percentOfSgemm))% of sgemm (\(String(format: "%.1f", result.sgemmGFLOPs)) GFLOP/s, 1024^3, same run)")
        }
    }
}
