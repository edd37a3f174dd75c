import BLAS
import Buffers
import Foundation
import RNN
import XCTest

/// Not a timed test: prints the forward+backward speed against sgemm when RNN_BENCHMARK is
/// set, e.g. `RNN_BENCHMARK=1 swift test -c release --filter KernelBenchmarkTests`.
final class KernelBenchmarkTests: XCTestCase {
    func testBenchmarkReport() throws {
        guard ProcessInfo.processInfo.environment["RNN_BENCHMARK"] != nil else {
            throw XCTSkip("set RNN_BENCHMARK=1 (and use -c release) to run the kernel benchmark")
        }
        let threads = Int(ProcessInfo.processInfo.environment["RNN_BENCHMARK_THREADS"] ?? "1") ?? 1
        BLAS.threadCount = threads
        for hidden in [256, 512] {
            let r = KernelBenchmark.run(shape: RNNShape(vocabularySize: 65, hiddenSize: hidden),
                                        sequenceLength: 64, batchSize: 32, warmupSteps: 3, timedSteps: 20, seed: 1)
            print(String(format: "H=%d V=%d T=%d B=%d threads=%d: %.2f ms/step, %.0f tokens/s, %.2f GFLOP/s, sgemm %.2f GFLOP/s, %.1f%% of sgemm",
                         r.hiddenSize, r.vocabularySize, r.sequenceLength, r.batchSize, threads,
                         r.secondsPerStep * 1e3, r.tokensPerSecond, r.gflops, r.sgemmGFLOPs, r.percentOfSgemm))
        }
    }

    /// The smallest sanity check that always runs: figures are positive and consistent.
    func testBenchmarkFiguresAreConsistent() {
        let r = KernelBenchmark.run(shape: RNNShape(vocabularySize: 11, hiddenSize: 16),
                                    sequenceLength: 4, batchSize: 2, warmupSteps: 1, timedSteps: 2, seed: 3)
        XCTAssertEqual(r.flopsPerToken, 6 * 16 * 16 + 6 * 16 * 11)
        XCTAssertGreaterThan(r.tokensPerSecond, 0)
        XCTAssertEqual(r.gflops, r.flopsPerToken * r.tokensPerSecond / 1e9, accuracy: 1e-9 * r.gflops)
        XCTAssertEqual(r.percentOfSgemm, 100 * r.gflops / r.sgemmGFLOPs, accuracy: 1e-9)
    }
}
