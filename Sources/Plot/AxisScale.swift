/// How data values map to positions along an axis.
public enum AxisScale: String, Sendable, Equatable {
    case linear
    /// Positions ∝ log10(value); values ≤ 0 cannot be shown and are skipped.
    case log10
}
