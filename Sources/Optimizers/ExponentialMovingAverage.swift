import Buffers

/// An exponential moving average of the parameters (Marian's `--exponential-smoothing`,
/// PyTorch's `AveragedModel` with an EMA function): after every applied optimizer step
///
///     average ← average + (1 − β)·(p − average)        (torch's lerp form of β·average + (1 − β)·p)
///
/// Its weights change more slowly than the trained ones and generalize better late in training;
/// evaluation, `keep-best` and `--save` read them. The same IEEE operations on every rank, so
/// the average stays identical everywhere, as the parameters do.
public final class ExponentialMovingAverage {
    public let decay: Double
    public let average: Buffer<Float>
    private let weight: Float

    public init(decay: Double, count: Int) throws {
        try requireOptimizer(decay > 0 && decay < 1, "ema must be in (0, 1), got \(decay)")
        self.decay = decay
        weight = Float(1 - decay)
        average = Buffer(count: count, repeating: 0)
    }

    /// The average starts at the parameters (a fresh run, or a checkpoint without one).
    public func reset(to parameters: Buffer<Float>) {
        precondition(parameters.count == average.count, "ema over \(average.count) values got \(parameters.count)")
        average.baseAddress.update(from: parameters.baseAddress, count: average.count)
    }

    /// One step of the average towards `parameters`.
    public func update(from parameters: Buffer<Float>) {
        precondition(parameters.count == average.count, "ema over \(average.count) values got \(parameters.count)")
        let (a, p, w) = (average.baseAddress, parameters.baseAddress, weight)
        for i in 0..<average.count { a[i] += w * (p[i] - a[i]) }
    }

    /// Its tensors' prefix in checkpoints (`ema.W_hh`, …).
    public static let prefix = "ema"
}
