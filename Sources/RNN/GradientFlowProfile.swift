import BLAS
#if canImport(Glibc)
import Glibc
#endif

/// Mean ‖∂L/∂h_t‖ as a function of the distance from the end of the sequence, d = T − 1 − t,
/// accumulated from `BPTTWorkspace.gradientFlow` over several batches (docs/design.md §2), with a
/// verdict: vanishing, exploding or stable.
///
/// Note: every step of a sequence carries a loss, so ‖dh_t‖ is the sum of the step's own
/// loss gradient and what flows back from later steps; a flat profile is therefore not proof
/// that long-range gradients survive. The Jacobian product (SpectralAnalysis) measures the
/// propagation alone.
public struct GradientFlowProfile: Equatable, Sendable {
    public enum Verdict: String, Equatable, Sendable {
        case vanishing, exploding, stable
    }

    /// The verdict threshold, in decades: the fitted change of log10 ‖dh‖ from distance 0 to
    /// the largest distance must fall at least this much for "vanishing" or rise at least this
    /// much for "exploding" (1 = a factor of 10 over the sequence).
    public static let verdictThresholdDecades = 1.0

    /// Σ weight·‖dh‖ per distance, and Σ weight of the finite entries.
    private var sums: [Double]
    private var weights: [Double]
    /// Entries that were NaN or ±∞ (a diverged batch); any makes the verdict "exploding".
    public private(set) var nonFiniteCount = 0
    public private(set) var batchCount = 0

    public init(sequenceLength: Int) {
        precondition(sequenceLength > 0, "sequenceLength must be positive, got \(sequenceLength)")
        sums = [Double](repeating: 0, count: sequenceLength)
        weights = [Double](repeating: 0, count: sequenceLength)
    }

    public var sequenceLength: Int { sums.count }

    /// Adds one batch: `gradientFlow[t]` is ‖dh_t‖ for t = 0..<T (BPTTWorkspace.gradientFlow,
    /// index 0 farthest from the loss). `weight` is typically the batch's sequence count.
    public mutating func add(gradientFlow: [Double], weight: Double = 1) {
        precondition(gradientFlow.count == sequenceLength,
                     "gradient flow of \(gradientFlow.count) steps, profile has \(sequenceLength)")
        precondition(weight > 0, "weight must be positive")
        let T = sequenceLength
        for t in 0..<T {
            let value = gradientFlow[t]
            guard value.isFinite else { nonFiniteCount += 1; continue }
            sums[T - 1 - t] += weight * value
            weights[T - 1 - t] += weight
        }
        batchCount += 1
    }

    /// Adds the gradient flow of the workspace's last forwardBackward over `batchSize` sequences.
    public mutating func add<Scalar: BLASScalar>(workspace: BPTTWorkspace<Scalar>, batchSize: Int) {
        add(gradientFlow: workspace.gradientFlow, weight: Double(batchSize))
    }

    /// Mean ‖dh‖ at distance d = 0..<T from the loss (NaN where nothing finite was added).
    public var meanNorms: [Double] {
        zip(sums, weights).map { $1 > 0 ? $0 / $1 : .nan }
    }

    /// Least-squares slope of log10 ‖dh‖ against the distance, over the finite positive
    /// means; nil with fewer than two such points.
    public var log10SlopePerStep: Double? {
        let points = meanNorms.enumerated().compactMap { d, v in v.isFinite && v > 0 ? (Double(d), log10(v)) : nil }
        guard points.count >= 2 else { return nil }
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.0 } / n, meanY = points.reduce(0) { $0 + $1.1 } / n
        var sxy = 0.0, sxx = 0.0
        for (x, y) in points {
            sxy += (x - meanX) * (y - meanY)
            sxx += (x - meanX) * (x - meanX)
        }
        return sxy / sxx
    }

    /// The fitted change in decades over the T − 1 steps from distance 0 to the farthest one.
    public var decadesOverSequence: Double? {
        log10SlopePerStep.map { $0 * Double(sequenceLength - 1) }
    }

    public var verdict: Verdict {
        if nonFiniteCount > 0 { return .exploding }
        guard let change = decadesOverSequence else { return .stable }
        if change <= -Self.verdictThresholdDecades { return .vanishing }
        if change >= Self.verdictThresholdDecades { return .exploding }
        return .stable
    }

    /// One line for people, e.g. "vanishing: ‖dh‖ falls 10^2.4 over 29 steps (×0.83 per step)".
    public var verdictDescription: String {
        let steps = sequenceLength - 1
        if nonFiniteCount > 0 {
            return "exploding: \(nonFiniteCount) non-finite ‖dh‖ values (the gradient diverged)"
        }
        guard let change = decadesOverSequence, let slope = log10SlopePerStep else {
            return "stable: too few finite ‖dh‖ values to fit a trend"
        }
        let perStep = "×" + formatted(pow(10, slope), digits: 3) + " per step"
        switch verdict {
        case .vanishing:
            return "vanishing: ‖dh‖ falls 10^\(formatted(-change, digits: 2)) over \(steps) steps (\(perStep))"
        case .exploding:
            return "exploding: ‖dh‖ grows 10^\(formatted(change, digits: 2)) over \(steps) steps (\(perStep))"
        case .stable:
            return "stable: ‖dh‖ changes 10^\(formatted(change, digits: 2)) over \(steps) steps (\(perStep))"
        }
    }

    /// Fixed-point text with `digits` decimals, without Foundation.
    private func formatted(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        let scale = pow(10, Double(digits))
        let rounded = (abs(value) * scale).rounded()
        var whole = String(Int(rounded / scale))
        var fraction = String(Int(rounded.truncatingRemainder(dividingBy: scale)))
        fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
        if value < 0 && rounded > 0 { whole = "-" + whole }
        return digits > 0 ? whole + "." + fraction : whole
    }
}
