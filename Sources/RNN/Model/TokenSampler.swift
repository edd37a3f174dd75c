import BLAS
import Buffers
#if canImport(Glibc)
import Glibc
#endif

/// Draws a token sequence from a Float model, one token at a time (`rnn-dist sample`): a
/// StackedStepper (the training forward, without dropout) for the recurrence and a
/// SeededGenerator for the draws, so the same
/// parameters, seed, priming and calls give the same tokens on every run and platform
/// (given the same BLAS results).
///
/// The stepper is always run at temperature 1, and the logits it leaves behind are kept:
/// temperature and top-k are applied at draw time in Double, so τ can change per call and
/// a very small τ still selects the argmax instead of underflowing.
public final class TokenSampler {
    public let architecture: ModelArchitecture
    private let parameters: Buffer<Float>
    private let stepper: StackedStepper<Float>
    private let scratch: Buffer<Float>
    private var generator: SeededGenerator
    /// Logits y_t (with b_y) after the last consumed token; nil before any token.
    private var logits: [Double]?

    /// kernel: the recurrence path of the steps.
    public init(architecture: ModelArchitecture, parameters: Buffer<Float>, seed: UInt64, kernel: RecurrenceKernel = .best) {
        let count = ModelLayout(architecture: architecture).count
        precondition(parameters.count == count, "parameters: \(parameters.count) scalars, the architecture needs \(count)")
        self.architecture = architecture
        self.parameters = parameters
        stepper = StackedStepper(architecture: architecture, kernel: kernel)
        scratch = Buffer(count: architecture.vocabularySize, repeating: 0)
        generator = SeededGenerator(seed: seed)
    }

    /// The generator's state, e.g. to print or to continue a stream later.
    public var generatorState: [UInt64] { generator.state }

    /// Back to h = 0 with nothing primed (the generator continues its stream).
    public func reset() {
        stepper.reset()
        logits = nil
    }

    /// Runs the tokens through the recurrence (nothing is drawn); the next draw continues them.
    public func prime(tokens: [Int32]) {
        for token in tokens { consume(token) }
    }

    /// The distribution the next `next(temperature:topK:)` draws from: softmax(y/τ) over the
    /// K most probable tokens (ties: the lower id first), 0 elsewhere; [V] values summing to 1.
    /// Before any token was primed or drawn there are no logits: uniform over the vocabulary.
    public func probabilities(temperature: Double = 1, topK: Int? = nil) -> [Double] {
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        precondition(topK.map { $0 >= 1 } ?? true, "top-k must be at least 1, got \(topK!)")
        let V = architecture.vocabularySize
        guard let logits else { return [Double](repeating: 1 / Double(V), count: V) }
        var candidates = Array(0..<V)
        if let k = topK, k < V {
            candidates.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            candidates.removeSubrange(k...)
        }
        let maximum = candidates.map { logits[$0] }.max()!
        var result = [Double](repeating: 0, count: V)
        var sum = 0.0
        for j in candidates {
            let e = exp((logits[j] - maximum) / temperature)
            result[j] = e
            sum += e
        }
        for j in candidates { result[j] /= sum }
        return result
    }

    /// Draws the next token from `probabilities(temperature:topK:)` and runs it through the
    /// recurrence. τ > 0 (τ → 0 approaches argmax, τ = 1 the model's distribution); K ≥ 1,
    /// nil for the whole vocabulary. Unprimed, the first token is drawn uniformly.
    public func next(temperature: Double = 1, topK: Int? = nil) -> Int32 {
        let p = probabilities(temperature: temperature, topK: topK)
        let u = generator.nextUniform()
        var cumulative = 0.0
        var chosen = -1
        for j in p.indices where p[j] > 0 {
            chosen = j   // the last positive entry also catches u ≥ Σp from rounding
            cumulative += p[j]
            if u < cumulative { break }
        }
        let token = Int32(chosen)
        consume(token)
        return token
    }

    /// Draws `count` tokens.
    public func sample(count: Int, temperature: Double = 1, topK: Int? = nil) -> [Int32] {
        (0..<count).map { _ in next(temperature: temperature, topK: topK) }
    }

    private func consume(_ token: Int32) {
        // The step leaves y = W_hy·h + b_y (times 1/τ = 1) in the workspace's logits buffer.
        stepper.step(parameters: parameters, token: token, temperature: 1, probabilities: scratch)
        logits = stepper.workspace.ys.toArray(range: 0..<architecture.vocabularySize).map(Double.init)
    }
}
