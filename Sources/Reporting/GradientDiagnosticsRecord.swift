/// What `--diagnose-every` measured at one step (rank 0's batch), ready for the metrics line,
/// TensorBoard and the log: the gradient survival curves by distance k, keyed "layer0_h",
/// "layer0_c", …, and ρ(W_hh) of layer 0 for rnn cells.
package struct GradientDiagnosticsRecord {
    package struct Curve {
        /// "layer0_h": the metrics key inside `gradient_survival`, and the TensorBoard tag's middle.
        package var key: String
        /// survival at k = 0..<T.
        package var values: [Double]

        package init(key: String, values: [Double]) {
            self.key = key
            self.values = values
        }
    }

    package var survival: [Curve]
    /// The distances TensorBoard gets a scalar for (every one would be T scalars per curve).
    package var tensorBoardDistances: [Int]
    package var spectralRadius: Double?
    /// One line for the log, e.g. "gradient survival (4 sequences): layer 0 h vanishing: …".
    package var summary: String

    package init(survival: [Curve], tensorBoardDistances: [Int], spectralRadius: Double?, summary: String) {
        self.survival = survival
        self.tensorBoardDistances = tensorBoardDistances
        self.spectralRadius = spectralRadius
        self.summary = summary
    }

    /// diag_survival/layer0_h/k5 → TensorBoard's diag/survival/layer0_h/k5.
    var tensorBoardScalars: [String: Double] {
        var scalars: [String: Double] = [:]
        for curve in survival {
            for k in tensorBoardDistances where k < curve.values.count {
                scalars["diag_survival/\(curve.key)/k\(k)"] = curve.values[k]
            }
        }
        return scalars
    }
}
