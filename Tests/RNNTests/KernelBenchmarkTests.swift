import Clock
import BLAS
import Buffers
import Foundation
import RNN
import RNNReference
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
            print(String(format: "  recurrence (%@): forward %.1f, backward %.1f GFLOP/s; BLAS at this shape %.1f GFLOP/s",
                         r.recurrenceKernel, r.forwardRecurrenceGFLOPs, r.backwardRecurrenceGFLOPs, r.blasRecurrenceGFLOPs))
        }
    }

    /// The same step called from outside the RNN module, as Training calls it: checks that the
    /// exported Float specialization is used (an unspecialized generic call would be far slower).
    func testCrossModuleCallIsAsFastAsTheBenchmark() throws {
        guard ProcessInfo.processInfo.environment["RNN_BENCHMARK"] != nil else {
            throw XCTSkip("set RNN_BENCHMARK=1 (and use -c release) to run the kernel benchmark")
        }
        BLAS.threadCount = 1
        let shape = RNNShape(vocabularySize: 65, hiddenSize: 256)
        let T = 64, B = 32
        let layout = tanhLayout(shape)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(parameters, layout: layout, scheme: .torch, seed: 1)
        let tokens = Buffer(randomTokens(count: B * T, vocabularySize: 65, seed: 2))
        let workspace = StackedBPTTWorkspace<Float>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        func step() {
            _ = workspace.forwardBackward(parameters: parameters, inputs: tokens, targets: tokens, batchSize: B,
                                          initialHidden: nil, tokenCountForMean: B * T, gradients: gradients)
        }
        for _ in 0..<3 { step() }
        let start = MonotonicClock.seconds()
        for _ in 0..<20 { step() }
        let direct = (MonotonicClock.seconds() - start) / 20
        let inModule = KernelBenchmark.run(shape: shape, sequenceLength: T, batchSize: B,
                                           warmupSteps: 3, timedSteps: 20, seed: 1).secondsPerStep
        print(String(format: "cross-module forwardBackward: %.2f ms/step, in-module benchmark: %.2f ms/step", direct * 1e3, inModule * 1e3))
        XCTAssertLessThan(direct, 1.5 * inModule)
    }

    /// The smallest sanity check that always runs: figures are positive and consistent.
    func testBenchmarkFiguresAreConsistent() {
        let r = KernelBenchmark.run(shape: RNNShape(vocabularySize: 11, hiddenSize: 16),
                                    sequenceLength: 4, batchSize: 2, warmupSteps: 1, timedSteps: 2, seed: 3)
        XCTAssertEqual(r.flopsPerToken, 6 * 16 * 16 + 6 * 16 * 11)
        XCTAssertGreaterThan(r.tokensPerSecond, 0)
        XCTAssertEqual(r.gflops, r.flopsPerToken * r.tokensPerSecond / 1e9, accuracy: 1e-9 * r.gflops)
        XCTAssertEqual(r.percentOfSgemm, 100 * r.gflops / r.sgemmGFLOPs, accuracy: 1e-9)
        XCTAssertEqual(r.recurrenceKernel, RecurrenceKernel.best.name)
        XCTAssertGreaterThan(r.forwardRecurrenceGFLOPs, 0)
        XCTAssertGreaterThan(r.backwardRecurrenceGFLOPs, 0)
        XCTAssertGreaterThan(r.blasRecurrenceGFLOPs, 0)
    }
}
