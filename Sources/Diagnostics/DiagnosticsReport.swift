import Foundation
import RNN

/// What `GradientDiagnostics.run` found, with a table for people.
public struct DiagnosticsReport: Sendable {
    /// ρ and σ_max of one rnn layer's W_hh.
    public struct LayerSpectrum: Sendable, Equatable {
        public let layer: Int
        public let spectralRadius: Double
        public let largestSingularValue: Double
    }

    /// The model file (empty when run on raw parameters) and "checkpoint, step 30" or similar.
    public var modelName: String
    public var modelDescription: String
    public var corpusName: String
    public var architecture: ModelArchitecture
    public var batches: Int
    public var batchSize: Int
    public var sequenceLength: Int
    /// The window asked for; `jacobian.window` is the one used (at most T).
    public var requestedWindow: Int
    public var seed: UInt64
    /// At most this many loss steps t per sequence (nil: every t).
    public var lossSteps: Int?
    /// Mean loss over the diagnosed tokens, nats/token.
    public var meanLoss: Double
    /// The measurement every verdict comes from.
    public var survival: GradientSurvivalProfile
    /// rnn cells: each layer's W_hh spectrum (empty for gated cells).
    public var spectra: [LayerSpectrum]
    /// The one-layer tanh RNN: the Jacobian product bound over a window (nil otherwise).
    public var jacobian: JacobianProductStatistics?
    /// Fraction of training steps whose gradient was clipped, when recorded.
    public var clippedFraction: Double?
    public var clippedDescription: String

    /// The model's verdict: that of layer 0's h curve (GradientSurvivalProfile.headline).
    public var verdict: GradientSurvivalProfile.Verdict { survival.headline.verdict }

    /// "model.safetensors: lstm L=2 H=64" — for a legend: the file's name, or for a checkpoint
    /// in a run's folder the folder's name (every run's files are called checkpoint-….safetensors).
    public var shortName: String {
        let url = URL(fileURLWithPath: modelName)
        var name = modelName.isEmpty ? "model" : url.lastPathComponent
        if name.hasPrefix("checkpoint-") { name = url.deletingLastPathComponent().lastPathComponent }
        if name.count > 36 { name = String(name.prefix(17)) + "…" + String(name.suffix(18)) }
        return "\(name): \(architecture.summary)"
    }

    /// The readable table `rnn-dist diagnose` prints.
    public var table: String {
        let T = sequenceLength
        var lines: [String] = []
        let model = modelName.isEmpty ? "" : "\(modelName) (\(modelDescription)), "
        lines.append("gradient diagnostics: \(model)\(architecture.summary), V=\(architecture.vocabularySize)")
        lines.append("data: \(corpusName), \(batches) batch\(batches == 1 ? "" : "es") × \(batchSize) sequences × T=\(T) "
            + "(seed \(seed)), from h = 0, mean loss \(Self.fixed(meanLoss, 4)) nats/token")
        lines.append("")
        lines.append("gradient survival: mean over t of ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖, the share of the gradient of step t's")
        lines.append("loss that is still there k steps back" + (architecture.cell.hasCellState ? " (c: the same through the cell state)" : ""))
        if let lossSteps, lossSteps < T {
            let spacing = (T + lossSteps - 1) / lossSteps
            lines.append("(t = T, T−\(spacing), T−\(2 * spacing), …: \((T + spacing - 1) / spacing) of the \(T) steps, --loss-steps \(lossSteps))")
        }
        let curves = survival.curves
        lines.append(Self.pad("k", 8) + curves.map { "   " + Self.pad($0.name, 10) }.joined())
        for k in GradientSurvivalProfile.tableDistances(sequenceLength: T) {
            lines.append(Self.pad(String(k), 8) + curves.map { "   " + Self.pad(Self.scientific($0.values[k]), 10) }.joined())
        }
        for curve in curves { lines.append("\(curve.name): \(curve.verdict.description)") }
        lines.append("")

        var rows: [(String, String)] = []
        for spectrum in spectra {
            let W_hh = architecture.isLegacyTanhRNN ? "W_hh" : "W_hh.\(spectrum.layer)"
            rows.append(("spectral radius ρ(\(W_hh))", Self.fixed(spectrum.spectralRadius, 6)))
            rows.append(("largest singular value σ_max(\(W_hh))", Self.fixed(spectrum.largestSingularValue, 6)))
        }
        if let jacobian {
            rows.append(("Jacobian factor ‖W_hhᵀ diag(1−h²)‖, geometric mean per step", Self.fixed(jacobian.perStepFactor, 6)))
            let measured = jacobian.window < T ? survival.headline.values[jacobian.window] : .nan
            rows.append(("bound on the survival over \(jacobian.window) steps (∏ of the factors, \(jacobian.windowCount) windows)",
                         Self.scientific(jacobian.product) + " (measured: \(Self.scientific(measured)))"))
        }
        rows.append(("clipped steps", clippedDescription))
        let width = rows.map { $0.0.count }.max()!
        for (label, value) in rows {
            lines.append(label + ":" + String(repeating: " ", count: width - label.count + 2) + value)
        }
        if let jacobian {
            if requestedWindow > jacobian.window {
                lines.append("(window shortened from \(requestedWindow) to the sequence length \(T))")
            }
            lines.append("(the Jacobian product bounds each window's survival from above; it is not a measurement:")
            lines.append(" above 1 it allows growth without showing it. The verdict comes from the measured survival.)")
        }
        lines.append("verdict (\(survival.headline.name)): \(verdict.description)")
        return lines.joined(separator: "\n")
    }

    // MARK: - Formatting

    static func fixed(_ value: Double, _ digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : String(describing: value)
    }

    static func scientific(_ value: Double) -> String {
        value.isFinite ? String(format: "%.3e", value) : String(describing: value)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
