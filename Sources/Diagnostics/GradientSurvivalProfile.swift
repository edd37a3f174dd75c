import RNN

#if canImport(Glibc)
import Glibc
#endif

/// Gradient survival (StackedBPTTWorkspace.gradientSurvival) averaged over several batches,
/// one curve per layer and path (h, and for lstm c), with a verdict in words that is read off
/// the curve itself: `rnn-dist diagnose` and `--diagnose-every`.
///
/// survival(k) = mean over t of ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖: the share of the gradient that
/// the loss at step t sends back which is still there k steps earlier. 1 at k = 0.
public struct GradientSurvivalProfile: Equatable, Sendable {
    public enum Path: String, Equatable, Sendable {
        /// ‖∂L_t/∂h_{t−k}‖: the hidden state, through every path (for lstm also through c).
        case h
        /// lstm: ‖∂L_t/∂c_{t−k}‖ / ‖∂L_t/∂c_t‖, the cell state.
        case c
    }

    public struct Curve: Equatable, Sendable {
        public let layer: Int
        public let path: Path
        /// survival at k = 0..<T (NaN where nothing finite was averaged).
        public let values: [Double]

        /// "layer 0 h".
        public var name: String { "layer \(layer) \(path.rawValue)" }
        /// "layer0_h": metrics and TensorBoard keys.
        public var key: String { "layer\(layer)_\(path.rawValue)" }
        public var verdict: Verdict { Verdict(values) }
    }

    /// What a curve shows, judged at the fixed thresholds below.
    public enum Verdict: Equatable, Sendable {
        /// Falls below `vanishingThreshold` (1%) first at distance k; `tenPercent`: below 10% first.
        case vanishing(k: Int, tenPercent: Int)
        /// Grows past `explodingThreshold` (10×) first at distance k (or is not finite there).
        case exploding(k: Int)
        /// Stays within [1%, 10×] up to the longest distance measured; `least` is its minimum.
        case survives(steps: Int, least: Double)
        /// Nothing measured beyond k = 0 (T = 1).
        case unmeasured

        public static let vanishingThreshold = 0.01
        public static let explodingThreshold = 10.0

        init(_ values: [Double]) {
            var tenPercent: Int?
            for k in values.indices.dropFirst() {
                let v = values[k]
                if !v.isNaN && !v.isFinite || v > Self.explodingThreshold { self = .exploding(k: k); return }
                guard v.isFinite else { continue }
                if v < 0.1 && tenPercent == nil { tenPercent = k }
                if v < Self.vanishingThreshold { self = .vanishing(k: k, tenPercent: tenPercent ?? k); return }
            }
            let measured = values.indices.dropFirst().filter { values[$0].isFinite }
            guard let last = measured.last else { self = .unmeasured; return }
            self = .survives(steps: last, least: measured.map { values[$0] }.min()!)
        }

        /// "vanishing", "exploding", "survives", "unmeasured".
        public var word: String {
            switch self {
            case .vanishing: return "vanishing"
            case .exploding: return "exploding"
            case .survives: return "survives"
            case .unmeasured: return "unmeasured"
            }
        }

        /// One line for people, e.g. "vanishing: the gradient from step t falls below 1% of
        /// its size after 7 steps (below 10% after 4)".
        public var description: String {
            switch self {
            case .vanishing(let k, let tenPercent):
                let ten = tenPercent < k ? " (below 10% after \(Self.steps(tenPercent)))" : ""
                return "vanishing: the gradient from step t falls below 1% of its size after \(Self.steps(k))\(ten)"
            case .exploding(let k):
                return "exploding: the gradient from step t grows past 10× its size after \(Self.steps(k))"
            case .survives(let steps, let least):
                return "survives: the gradient from step t keeps ≥ \(Self.percent(least)) of its size "
                    + "over all \(Self.steps(steps)) measured"
            case .unmeasured:
                return "unmeasured: sequences of one step have no distance to measure"
            }
        }

        private static func steps(_ k: Int) -> String { k == 1 ? "1 step" : "\(k) steps" }

        /// 42%, 4.2%, 1.05%, rounded down (it follows "≥": 0.99999 is "99%", not "100%").
        static func percent(_ fraction: Double) -> String {
            let p = 100 * fraction, digits = p >= 10 ? 0 : p >= 1 ? 1 : 2
            let scale = pow(10, Double(digits))
            // The 1e-9 keeps 0.29 × 100 = 28.999…6 at 29.
            return formatted((p * scale + 1e-9).rounded(.down) / scale, digits: digits) + "%"
        }
    }

    /// Σ samples·survival and Σ samples per curve (order: layer 0 h, layer 0 c, layer 1 h, …) and k.
    private var sums: [[Double]]
    private var counts: [[Int]]
    public let architecture: ModelArchitecture
    public private(set) var batchCount = 0

    public init(architecture: ModelArchitecture, sequenceLength: Int) {
        precondition(sequenceLength > 0, "sequenceLength must be positive, got \(sequenceLength)")
        self.architecture = architecture
        let paths = Self.paths(architecture)
        sums = [[Double]](repeating: [Double](repeating: 0, count: sequenceLength), count: paths.count)
        counts = [[Int]](repeating: [Int](repeating: 0, count: sequenceLength), count: paths.count)
    }

    public var sequenceLength: Int { sums.first?.count ?? 0 }

    /// Adds one batch's survival, each distance weighted by the (t, sequence) pairs it averaged.
    /// A non-finite mean (a diverged batch) makes that distance non-finite for good.
    public mutating func add(_ survival: GradientSurvival) {
        for (index, (layer, path)) in Self.paths(architecture).enumerated() {
            let values = path == .h ? survival.hidden[layer] : survival.cell![layer]
            let samples = path == .h ? survival.samples[layer] : survival.cellSamples![layer]
            precondition(values.count == sequenceLength, "survival of \(values.count) steps, profile has \(sequenceLength)")
            for k in values.indices where samples[k] > 0 {
                sums[index][k] += Double(samples[k]) * values[k]
                counts[index][k] += samples[k]
            }
        }
        batchCount += 1
    }

    private static func paths(_ architecture: ModelArchitecture) -> [(layer: Int, path: Path)] {
        (0..<architecture.layers).flatMap { l in
            architecture.cell.hasCellState ? [(l, Path.h), (l, Path.c)] : [(l, Path.h)]
        }
    }

    public var curves: [Curve] {
        Self.paths(architecture).enumerated().map { index, p in
            Curve(layer: p.layer, path: p.path,
                  values: zip(sums[index], counts[index]).map { $1 > 0 ? $0 / Double($1) : .nan })
        }
    }

    /// The curve the model's verdict is read from: layer 0's h, where the input enters (for
    /// one layer the only h; through every path, so for lstm it includes the cell state's).
    public var headline: Curve { curves[0] }

    /// Distances worth a table row or a TensorBoard scalar: 0, 1, 2, 5, 10, 20, 50, … below T,
    /// and T − 1.
    public static func tableDistances(sequenceLength T: Int) -> [Int] {
        var distances = [0]
        var decade = 1
        outer: while true {
            for multiple in [1, 2, 5] {
                let d = multiple * decade
                if d > T - 1 { break outer }
                distances.append(d)
            }
            decade *= 10
        }
        if distances.last != T - 1 { distances.append(T - 1) }
        return distances
    }
}

/// Fixed-point text with `digits` decimals, without Foundation.
func formatted(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    let scale = pow(10, Double(digits))
    let rounded = (abs(value) * scale).rounded()
    var whole = String(Int(rounded / scale))
    var fraction = String(Int(rounded.truncatingRemainder(dividingBy: scale)))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    if value < 0 && rounded > 0 { whole = "-" + whole }
    return digits > 0 ? whole + "." + fraction : whole
}
