#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The learning rate as a function of the step.
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    case constant
    /// Linear warmup, then cosine decay to base·minimumFactor at `totalSteps`.
    case warmupCosine(warmupSteps: Int, totalSteps: Int, minimumFactor: Double)

    /// The rate for 0-based `step` (the update about to be applied). With W warmup steps,
    /// S total steps and floor factor f:
    ///
    ///     step < W:       base · (step + 1) / W            (reaches base at step W − 1)
    ///     W ≤ step < S:   base · (f + (1 − f) · (1 + cos(π · (step − W) / (S − W))) / 2)
    ///     step ≥ S:       base · f                          (clamped)
    public func learningRate(base: Double, step: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .warmupCosine(let warmup, let total, let floor):
            if step < warmup { return base * Double(step + 1) / Double(warmup) }
            if step >= total { return base * floor }
            let progress = Double(step - warmup) / Double(total - warmup)
            return base * (floor + (1 - floor) * 0.5 * (1 + cos(Double.pi * progress)))
        }
    }

    /// Throws for parameters outside their ranges.
    public func validate() throws {
        guard case .warmupCosine(let warmup, let total, let floor) = self else { return }
        try requireOptimizer(warmup >= 0, "warmup steps must be non-negative, got \(warmup)")
        try requireOptimizer(total >= 1, "schedule total steps must be at least 1, got \(total)")
        try requireOptimizer(warmup <= total, "warmup steps (\(warmup)) exceed the schedule's total steps (\(total))")
        try requireOptimizer(floor >= 0 && floor <= 1, "minimum learning-rate factor must be in [0, 1], got \(floor)")
    }
}

/// The state of learning-rate decay on a validation plateau and of early stopping (torch's
/// ReduceLROnPlateau in mode min with a relative threshold of 1e-4 and no cooldown, and the
/// patience rule of early stopping). Updated once per evaluation with the validation loss,
/// which every rank holds identically, so every rank decides alike; checkpoints carry it.
public struct ValidationPlateau: Equatable, Sendable {
    /// What multiplies the schedule's rate: 1, then decay^k after k plateaus.
    public var factor = 1.0
    /// The best validation loss so far.
    public var best = Double.infinity
    /// Evaluations without a new best since the last decay (the plateau's count).
    public var badEvaluations = 0
    /// Evaluations without a new best, whatever the decays (early stopping's count).
    public var evaluationsSinceBest = 0

    /// A new best must be below best·(1 − 1e-4) (torch's default threshold, mode rel).
    public static let threshold = 1e-4

    public init(factor: Double = 1, best: Double = .infinity, badEvaluations: Int = 0, evaluationsSinceBest: Int = 0) {
        (self.factor, self.best, self.badEvaluations, self.evaluationsSinceBest) = (factor, best, badEvaluations, evaluationsSinceBest)
    }

    /// What one evaluation did.
    public enum Outcome: Equatable, Sendable {
        case improved
        case noImprovement
        /// The rate's factor was multiplied by `decay` (more than `patience` evaluations without a new best).
        case decayed(factor: Double)
    }

    /// Records `loss`; decays the factor when more than `patience` evaluations in a row brought
    /// no new best (`decay` nil: track only, for early stopping).
    public mutating func observe(_ loss: Double, decay: Double?, patience: Int) -> Outcome {
        if loss < best * (1 - Self.threshold) {
            best = loss
            badEvaluations = 0
            evaluationsSinceBest = 0
            return .improved
        }
        badEvaluations += 1
        evaluationsSinceBest += 1
        guard let decay, badEvaluations > patience else { return .noImprovement }
        factor *= decay
        badEvaluations = 0
        return .decayed(factor: factor)
    }
}
