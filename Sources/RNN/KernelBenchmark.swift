import Clock
import BLAS
import Buffers

public struct KernelBenchmarkResult: Codable, Sendable {
    public var hiddenSize, vocabularySize, sequenceLength, batchSize, steps: Int
    public var secondsPerStep, tokensPerSecond, flopsPerToken, gflops, sgemmGFLOPs, percentOfSgemm: Double
}

/// Speed of one forward+backward (Float) against this machine's sgemm rate, measured in the
/// same run with the same BLAS thread count.
public enum KernelBenchmark {
    /// FLOPs per token are counted as the GEMMs do: 6·H·H (recurrence forward, dh backward,
    /// dW_hh) + 6·H·V (logits, dH_out, dW_hy). The one-hot input is a gather, not counted.
    public static func run(shape: RNNShape, sequenceLength: Int, batchSize: Int,
                           warmupSteps: Int, timedSteps: Int, seed: UInt64) -> KernelBenchmarkResult {
        precondition(batchSize > 0 && timedSteps > 0, "benchmark needs batchSize > 0 and timedSteps > 0")
        let layout = ParameterLayout(shape: shape)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(parameters, layout: layout, scheme: .torch, seed: seed)
        var generator = SeededGenerator(seed: seed &+ 1)
        let tokenCount = batchSize * sequenceLength
        let V = UInt64(shape.vocabularySize)
        let inputs = Buffer<Int32>((0..<tokenCount).map { _ in Int32(generator.next() % V) })
        let targets = Buffer<Int32>((0..<tokenCount).map { _ in Int32(generator.next() % V) })
        let workspace = BPTTWorkspace<Float>(shape: shape, maxBatchSize: batchSize, sequenceLength: sequenceLength)

        func step() {
            _ = workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets,
                                          batchSize: batchSize, initialHidden: nil,
                                          tokenCountForMean: tokenCount, gradients: gradients)
        }
        for _ in 0..<warmupSteps { step() }
        let start = MonotonicClock.seconds()
        for _ in 0..<timedSteps { step() }
        let seconds = (MonotonicClock.seconds() - start) / Double(timedSteps)

        let H = Double(shape.hiddenSize), Vd = Double(shape.vocabularySize)
        let flopsPerToken = 6 * H * H + 6 * H * Vd
        let tokensPerSecond = Double(tokenCount) / seconds
        let gflops = flopsPerToken * tokensPerSecond / 1e9
        let sgemm = BLAS.measureSgemmGFLOPs(size: 1024)
        return KernelBenchmarkResult(
            hiddenSize: shape.hiddenSize, vocabularySize: shape.vocabularySize,
            sequenceLength: sequenceLength, batchSize: batchSize, steps: timedSteps,
            secondsPerStep: seconds, tokensPerSecond: tokensPerSecond, flopsPerToken: flopsPerToken,
            gflops: gflops, sgemmGFLOPs: sgemm, percentOfSgemm: 100 * gflops / sgemm)
    }
}
