import Buffers
import Clock

/// Chooses the recurrence kernel by timing the candidates at the model's own per-step shapes,
/// as FFTW and ATLAS do, instead of trusting the instruction set: whether packed panels beat
/// the BLAS depends on the caches (W_hh [G·H, H] fits L2 or streams from L3 every step), on
/// the vector unit and on what else shares the core, none of which a table predicts.
///
/// A candidate's cost is one time step of a layer: the forward product [B, H]·W_hh^T → [B, G·H]
/// and the backward product [B, G·H]·W_hh → [B, H], each with the epilogue training runs
/// (tanh and its derivative for G = 1, accumulation for the gated cells), over T consecutive
/// steps of distinct rows as in BPTT. Candidates are timed in interleaved rounds (a drifting
/// host speed hits all of them alike) and each keeps its fastest round. The measurement is
/// bounded by `budgetSeconds`, and skipped for models too small to time (`minimumFlops`).
public enum RecurrenceKernelTuner {
    /// The per-step products of one layer of a model.
    public struct Shape: Sendable, Equatable {
        public var gates: Int, hiddenSize: Int, batchSize: Int, sequenceLength: Int

        public init(gates: Int, hiddenSize: Int, batchSize: Int, sequenceLength: Int) {
            (self.gates, self.hiddenSize, self.batchSize, self.sequenceLength) = (gates, hiddenSize, batchSize, sequenceLength)
        }

        /// FLOPs of the forward and backward products of one step: 2 · 2·B·G·H².
        public var flopsPerStep: Double { 4 * Double(batchSize * gates) * Double(hiddenSize * hiddenSize) }
    }

    /// One candidate's fastest round: seconds for the two products of one time step.
    public struct Timing: Sendable, Equatable, Codable {
        public var kernel: String
        public var secondsPerStep: Double
        public var gflops: Double

        enum CodingKeys: String, CodingKey { case kernel, secondsPerStep = "seconds_per_step", gflops }
    }

    /// Below this many FLOPs per step (about H = 128, B = 32, G = 1) a product takes a few
    /// microseconds, the timer's noise decides, and the whole step is bound by latency anyway:
    /// the instruction set decides instead.
    public static let minimumFlops = 2.0e6

    /// Every kernel name, in the order `measure` reports them on every CPU, so that ranks can
    /// combine their times element by element.
    public static let candidateNames = RecurrenceKernel.allNames

    /// The time of each of `candidateNames` (infinity for one not timed: see `candidates`). Empty when
    /// the shape is below `minimumFlops`. Timing ends after the round in which `budgetSeconds`
    /// ran out.
    public static func measure(_ shape: Shape, budgetSeconds: Double = 1.5, maximumRounds: Int = 7) -> [Timing] {
        guard shape.flopsPerStep >= minimumFlops else { return [] }
        let candidates = Self.candidates()
        // Steps per round: up to T (32 at most), fewer for large shapes so that one round of
        // every candidate stays within ~0.2 GFLOP each and the budget holds.
        let T = max(1, min(shape.sequenceLength, 32, Int(2e8 / shape.flopsPerStep)))
        let (G, H, B) = (shape.gates, shape.hiddenSize, shape.batchSize)
        let GH = G * H
        var generator = SeededGenerator(seed: 0x7475_6e65)
        func values(_ count: Int, scale: Float) -> Buffer<Float> {
            Buffer((0..<count).map { _ in Float(2 * generator.nextUniform() - 1) * scale })
        }
        let W_hh = values(GH * H, scale: 1 / Float(H).squareRoot())
        // Forward: h_{t−1} rows in hs, the product into as; backward: da_t rows in das, into dhs.
        let hs = values((T + 1) * B * H, scale: 0.9), dhs = values((T + 1) * B * H, scale: 1e-3)
        let pre = values(T * B * GH, scale: 0.5), das = values(T * B * GH, scale: 1e-3)
        // One packing per vector path (and one copy for the BLAS), shared by the path's depths:
        // at H = 2048 an LSTM's W_hh is 64 MiB, and every rank of a node tunes at once.
        // Packing runs once per forward/backward call in training (amortized over its T steps):
        // it is left out of the timed products.
        var packings: [String: (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)] = [:]
        let runs: [() -> Void] = candidates.map { kernel in
            let key = kernel.products == .blas ? "blas" : kernel.path.rawValue
            let (forward, backward) = packings[key] ?? {
                let pair = (PackedRecurrentWeights(kernel: kernel, product: .forward, gates: G, hiddenSize: H),
                            PackedRecurrentWeights(kernel: kernel, product: .backward, gates: G, hiddenSize: H))
                pair.0.pack(W_hh, offset: 0)
                pair.1.pack(W_hh, offset: 0)
                packings[key] = pair
                return pair
            }()
            return {
                (forward.products, backward.products) = (kernel.products, kernel.products)
                for t in 0..<T {
                    if G == 1 {
                        forward.forward(h: hs, hOffset: t * B * H, rows: B, into: hs, aOffset: (t + 1) * B * H, epilogue: .tanh)
                        _ = backward.backward(da: dhs, daOffset: (t + 1) * B * H, rows: B, into: dhs, dhOffset: t * B * H,
                                              epilogue: .tanhDerivative(hidden: hs, offset: (t + 1) * B * H))
                    } else {
                        forward.forward(h: hs, hOffset: t * B * H, rows: B, into: pre, aOffset: t * B * GH, epilogue: .accumulate)
                        _ = backward.backward(da: das, daOffset: t * B * GH, rows: B, into: dhs, dhOffset: t * B * H,
                                              epilogue: .accumulate)
                    }
                }
            }
        }
        for run in runs { run() }   // warm-up: page faults, the first touch of each panel
        var best = [Double](repeating: .infinity, count: runs.count)
        let start = MonotonicClock.seconds()
        for _ in 0..<maximumRounds {
            for (index, run) in runs.enumerated() {
                let roundStart = MonotonicClock.seconds()
                run()
                best[index] = min(best[index], (MonotonicClock.seconds() - roundStart) / Double(T))
            }
            if MonotonicClock.seconds() - start > budgetSeconds { break }
        }
        let measured = Dictionary(uniqueKeysWithValues: zip(candidates.map(\.name), best))
        return candidateNames.map { timing($0, secondsPerStep: measured[$0] ?? .infinity, shape: shape) }
    }

    /// `timing` for `secondsPerStep` at `shape` (also how combined times are rebuilt).
    public static func timing(_ kernel: String, secondsPerStep: Double, shape: Shape) -> Timing {
        Timing(kernel: kernel, secondsPerStep: secondsPerStep, gflops: shape.flopsPerStep / secondsPerStep / 1e9)
    }

    /// What is timed: each vector path this CPU runs at each depth, and the BLAS's products.
    /// The portable path only where no vector path runs: on every x86-64 measured it is 4–5×
    /// slower than either (Zen 4: 19 against 100 GF/s), and timing it costs a second of the budget.
    public static func candidates() -> [RecurrenceKernel] {
        let supported = RecurrenceKernel.allSupported
        let vector = supported.filter { $0.products == .blas || $0.path != .generic }
        return vector.contains { $0.products != .blas } ? vector : supported
    }

    /// The kernel to run: the fastest of `timings` (after every rank's times were combined, so
    /// all ranks decide alike), or the instruction set's best when nothing was timed.
    public static func choice(from timings: [Timing]) -> RecurrenceKernel {
        guard let fastest = timings.filter({ $0.secondsPerStep.isFinite }).min(by: { $0.secondsPerStep < $1.secondsPerStep }),
              let kernel = RecurrenceKernel(name: fastest.kernel, origin: .measured) else { return .best }
        return kernel
    }
}
