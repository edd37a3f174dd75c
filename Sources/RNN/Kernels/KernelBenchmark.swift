import Clock
import BLAS
import Buffers

public struct KernelBenchmarkResult: Codable, Sendable {
    public var hiddenSize, vocabularySize, sequenceLength, batchSize, steps: Int
    public var secondsPerStep, tokensPerSecond, flopsPerToken, gflops, sgemmGFLOPs, percentOfSgemm: Double
    /// The recurrence path (RecurrenceKernel.name) and its per-step products alone, at
    /// [B, H] × [H, H] with their fused epilogues, over T steps as in training; next to them
    /// the BLAS's sgemm at the same shape (the recurrence before CRecurrence).
    public var recurrenceKernel: String
    public var forwardRecurrenceGFLOPs, backwardRecurrenceGFLOPs, blasRecurrenceGFLOPs: Double
    /// Where the ceiling ran, as the training bench reports it (set by the caller that measured it).
    public var sgemmCore: String?
    public var sgemmSeparateProcess: Bool?
    public var sgemmNote: String?

    /// The training bench's spelling (TrainingBenchmark.Report) for every quantity both report,
    /// so that one reader handles every bench mode's JSON.
    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden", vocabularySize = "vocab", sequenceLength = "seq_len", batchSize = "batch_per_rank"
        case steps = "timed_steps", secondsPerStep = "seconds_per_step", tokensPerSecond = "tokens_per_s"
        case flopsPerToken = "flops_per_token", gflops, sgemmGFLOPs = "sgemm_gflops_single_thread"
        case percentOfSgemm = "percent_of_sgemm_ceiling", recurrenceKernel = "recurrence_kernel"
        case forwardRecurrenceGFLOPs = "recurrence_forward_gflops", backwardRecurrenceGFLOPs = "recurrence_backward_gflops"
        case blasRecurrenceGFLOPs = "recurrence_blas_gflops"
        case sgemmCore = "sgemm_core", sgemmSeparateProcess = "sgemm_separate_process", sgemmNote = "sgemm_note"
    }
}

/// Speed of one forward+backward (Float) against this machine's sgemm rate, measured in the
/// same run with the same BLAS thread count.
public enum KernelBenchmark {
    /// FLOPs per token are counted as the GEMMs do: 6·H·H (recurrence forward, dh backward,
    /// dW_hh) + 6·H·V (logits, dH_out, dW_hy). The one-hot input is a gather, not counted.
    public static func run(shape: RNNShape, sequenceLength: Int, batchSize: Int,
                           warmupSteps: Int, timedSteps: Int, seed: UInt64,
                           kernel: RecurrenceKernel = .best,
                           measureSgemmGFLOPs: () -> Double = { BLAS.measureSgemmGFLOPs(size: 1024) }) -> KernelBenchmarkResult {
        precondition(batchSize > 0 && timedSteps > 0, "benchmark needs batchSize > 0 and timedSteps > 0")
        let architecture = ModelArchitecture(shape: shape), layout = ModelLayout(architecture: architecture)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(parameters, layout: layout, scheme: .torch, seed: seed)
        var generator = SeededGenerator(seed: seed &+ 1)
        let tokenCount = batchSize * sequenceLength
        let V = UInt64(shape.vocabularySize)
        let inputs = Buffer<Int32>((0..<tokenCount).map { _ in Int32(generator.next() % V) })
        let targets = Buffer<Int32>((0..<tokenCount).map { _ in Int32(generator.next() % V) })
        let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: batchSize,
                                                    sequenceLength: sequenceLength, kernel: kernel)

        func step() {
            _ = workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets,
                                          batchSize: batchSize, initialState: nil,
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
        let sgemm = measureSgemmGFLOPs()
        let recurrence = measureRecurrence(kernel: kernel, hiddenSize: shape.hiddenSize, batchSize: batchSize,
                                           sequenceLength: sequenceLength, seed: seed)
        return KernelBenchmarkResult(
            hiddenSize: shape.hiddenSize, vocabularySize: shape.vocabularySize,
            sequenceLength: sequenceLength, batchSize: batchSize, steps: timedSteps,
            secondsPerStep: seconds, tokensPerSecond: tokensPerSecond, flopsPerToken: flopsPerToken,
            gflops: gflops, sgemmGFLOPs: sgemm, percentOfSgemm: 100 * gflops / sgemm,
            recurrenceKernel: kernel.name, forwardRecurrenceGFLOPs: recurrence.forward,
            backwardRecurrenceGFLOPs: recurrence.backward, blasRecurrenceGFLOPs: recurrence.blas)
    }

    /// GFLOP/s (2·B·H² per step, best of `repeats` runs of T steps) of the forward product with
    /// its tanh, the backward product with its (1 − h²), and BLAS sgemm at the same shape.
    public static func measureRecurrence(kernel: RecurrenceKernel, hiddenSize H: Int, batchSize B: Int,
                                         sequenceLength T: Int, seed: UInt64, repeats: Int = 5)
        -> (forward: Double, backward: Double, blas: Double) {
        var generator = SeededGenerator(seed: seed)
        let W_hh = Buffer<Float>((0..<H * H).map { _ in Float(2 * generator.nextUniform() - 1) / Float(H).squareRoot() })
        let hs = Buffer<Float>((0..<(T + 1) * B * H).map { _ in Float(2 * generator.nextUniform() - 1) * 0.9 })
        let dhs = Buffer<Float>((0..<(T + 1) * B * H).map { _ in Float(2 * generator.nextUniform() - 1) * 1e-3 })
        let forward = PackedRecurrentWeights(kernel: kernel, product: .forward, gates: 1, hiddenSize: H)
        let backward = PackedRecurrentWeights(kernel: kernel, product: .backward, gates: 1, hiddenSize: H)
        forward.pack(W_hh, offset: 0)
        backward.pack(W_hh, offset: 0)
        func rate(_ step: (Int) -> Void) -> Double {
            for t in 1...T { step(t) }   // warm-up: caches, page faults
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = MonotonicClock.seconds()
                for t in 1...T { step(t) }
                best = min(best, MonotonicClock.seconds() - start)
            }
            return 2 * Double(B * H * H * T) / best / 1e9
        }
        let forwardRate = rate { t in
            forward.forward(h: hs, hOffset: (t - 1) * B * H, rows: B, into: hs, aOffset: t * B * H, epilogue: .tanh)
        }
        let backwardRate = rate { t in
            _ = backward.backward(da: dhs, daOffset: t * B * H, rows: B, into: dhs, dhOffset: (t - 1) * B * H,
                                  epilogue: .tanhDerivative(hidden: hs, offset: t * B * H))
        }
        let blasRate = rate { t in
            BLAS.gemm(.none, .transposed, m: B, n: H, k: H, a: hs, aOffset: (t - 1) * B * H, b: W_hh,
                      beta: 1, c: hs, cOffset: t * B * H)
        }
        return (forwardRate, backwardRate, blasRate)
    }
}
