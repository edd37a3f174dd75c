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
