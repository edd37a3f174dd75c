import Buffers
import Foundation
import RNN
import Checkpoints
import TextData

/// Vanishing / exploding gradient diagnostics of a model on a corpus (`rnn-dist diagnose`,
/// and reusable for periodic diagnostics during training):
///
/// - the gradient-flow profile: mean ‖∂L/∂h_t‖ against the distance from the end of the
///   sequence, from full BPTT over a few batches (GradientFlowProfile);
/// - the spectral radius and largest singular value of W_hh (SpectralAnalysis);
/// - the mean over windows of W steps of ∏ ‖W_hhᵀ diag(1 − h_k²)‖₂ along the hidden states of
///   those batches: the propagation factor alone, without the per-step losses that flatten
///   the profile (JacobianProductStatistics).
public enum GradientDiagnostics {
    public struct Options: Equatable, Sendable {
        /// Batches of `batchSize` training sequences of `sequenceLength` tokens.
        public var batches: Int
        public var batchSize: Int
        public var sequenceLength: Int
        /// Steps per Jacobian-product window (clamped to the sequence length).
        public var window: Int
        /// Chooses the sequences (a seeded permutation of the training sequences).
        public var seed: UInt64
        /// Power iterations per Jacobian factor.
        public var factorIterations: Int

        public init(batches: Int = 4, batchSize: Int = 16, sequenceLength: Int = 64, window: Int = 20,
                    seed: UInt64 = 1, factorIterations: Int = 30) {
            self.batches = batches
            self.batchSize = batchSize
            self.sequenceLength = sequenceLength
            self.window = window
            self.seed = seed
            self.factorIterations = factorIterations
        }

        /// Throws `DiagnosticsError` naming the first out-of-range option.
        public func validate() throws {
            guard batches >= 1 else { throw DiagnosticsError("--batches must be at least 1, got \(batches)") }
            guard batchSize >= 1 else { throw DiagnosticsError("--batch-size must be at least 1, got \(batchSize)") }
            guard sequenceLength >= 1 else { throw DiagnosticsError("--seq-len must be at least 1, got \(sequenceLength)") }
            guard window >= 1 else { throw DiagnosticsError("--window must be at least 1, got \(window)") }
            guard factorIterations >= 1 else { throw DiagnosticsError("factor iterations must be at least 1, got \(factorIterations)") }
        }
    }

    /// Diagnostics of a model file on a corpus read with the model's vocabulary. The clipped
    /// fraction comes from the file's metadata.
    public static func run(model: ModelFile, corpus: Corpus, options: Options) throws -> DiagnosticsReport {
        guard corpus.vocabulary == model.vocabulary else {
            throw DiagnosticsError("corpus \(corpus.name) has \(corpus.vocabulary.count) symbols "
                + "(\(corpus.vocabulary.tokenizer.rawValue)), which is not the vocabulary of \(model.path) "
                + "(\(model.vocabulary.count) symbols, \(model.vocabulary.tokenizer.rawValue))")
        }
        guard model.architecture.isLegacyTanhRNN else {
            throw DiagnosticsError("\(model.path): cell \(model.architecture.cell), \(model.architecture.layers) layer(s); "
                + "diagnose measures the one-layer tanh RNN only so far (gated cells: issue 15 item 5)")
        }
        var report = try run(parameters: model.parameters, layout: ParameterLayout(shape: model.shape), tokens: corpus.train,
                             corpusName: corpus.name, options: options)
        report.modelName = model.path
        report.modelDescription = model.kind == .checkpoint ? "checkpoint" : "parameters"
        if let step = model.step { report.modelDescription += ", step \(step)" }
        report.clippedFraction = model.clippedFraction
        report.clippedDescription = model.clippedFractionDescription
        return report
    }

    /// The computation on raw parameters and training tokens (e.g. inside a training run).
    /// `tokens` must hold at least one sequence (sequenceLength + 1 tokens).
    public static func run(parameters: Buffer<Float>, layout: ParameterLayout, tokens: TokenSequence, corpusName: String,
                           options: Options) throws -> DiagnosticsReport {
        try options.validate()
        let shape = layout.shape
        let H = shape.hiddenSize, T = options.sequenceLength, B = options.batchSize
        let dataset = SequenceDataset(tokens: tokens, sequenceLength: T)
        guard dataset.count >= 1 else {
            throw DiagnosticsError("training split of \(corpusName) has \(tokens.count) tokens; sequence length \(T) "
                + "needs at least \(T + 1)")
        }
        // Sequences: a seeded permutation of all training sequences, repeated if too few.
        var generator = DataRandom(seed: options.seed, stream: 0xD1A6)
        var order = Array(0..<dataset.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, generator.nextInt(below: i + 1))
        }

        let workspace = BPTTWorkspace<Float>(shape: shape, maxBatchSize: B, sequenceLength: T)
        let inputs = Buffer<Int32>(count: B * T, repeating: 0)
        let targets = Buffer<Int32>(count: B * T, repeating: 0)
        let gradients = Buffer<Float>(count: layout.count, repeating: 0)
        var profile = GradientFlowProfile(sequenceLength: T)
        var hiddenStates: [[[Double]]] = []
        var loss = 0.0
        for batch in 0..<options.batches {
            let sequences = (0..<B).map { order[(batch * B + $0) % order.count] }
            try dataset.fill(sequences: sequences, inputs: inputs, targets: targets)
            loss += workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: B,
                                              initialHidden: nil, tokenCountForMean: B * T, gradients: gradients)
            profile.add(workspace: workspace, batchSize: B)
            hiddenStates += SpectralAnalysis.hiddenStates(parameters: parameters, layout: layout,
                                                          inputs: inputs.toArray(range: 0..<B * T),
                                                          batchSize: B, sequenceLength: T)
        }

        let W_hh = layout.range(of: .W_hh).lowerBound
        let window = min(options.window, T)
        let jacobian = SpectralAnalysis.jacobianProductNorms(
            parameters: parameters, layout: layout, hiddenStates: hiddenStates, window: window,
            factorNorm: .spectral(iterations: options.factorIterations), seed: options.seed)
        return DiagnosticsReport(
            modelName: "", modelDescription: "", corpusName: corpusName, shape: shape,
            batches: options.batches, batchSize: B, sequenceLength: T, requestedWindow: options.window,
            seed: options.seed, meanLoss: loss / Double(options.batches * B * T), profile: profile,
            spectralRadius: SpectralAnalysis.spectralRadius(of: parameters, offset: W_hh, size: H),
            largestSingularValue: SpectralAnalysis.largestSingularValue(of: parameters, offset: W_hh, size: H),
            jacobian: jacobian, clippedFraction: nil, clippedDescription: "unknown (not recorded in this file)")
    }
}

/// What `GradientDiagnostics.run` found, with a table for people and numbers for metrics.
public struct DiagnosticsReport: Sendable {
    /// The model file (empty when run on raw parameters) and "checkpoint, step 30" or similar.
    public var modelName: String
    public var modelDescription: String
    public var corpusName: String
    public var shape: RNNShape
    public var batches: Int
    public var batchSize: Int
    public var sequenceLength: Int
    /// The window asked for; `jacobian.window` is the one used (at most T).
    public var requestedWindow: Int
    public var seed: UInt64
    /// Mean loss over the diagnosed tokens, nats/token.
    public var meanLoss: Double
    public var profile: GradientFlowProfile
    public var spectralRadius: Double
    public var largestSingularValue: Double
    public var jacobian: JacobianProductStatistics
    /// Fraction of training steps whose gradient was clipped, when recorded.
    public var clippedFraction: Double?
    public var clippedDescription: String

    public enum JacobianVerdict: String, Sendable {
        case vanishing, exploding, neutral
    }

    /// Below 1 the backward signal shrinks over the window (vanishing), above 1 it grows.
    public var jacobianVerdict: JacobianVerdict {
        let product = jacobian.product
        guard product.isFinite else { return jacobian.meanLogProduct.isNaN ? .neutral : .exploding }
        return product < 1 ? .vanishing : product > 1 ? .exploding : .neutral
    }

    /// The distances the table shows: 0, 1, 2, 5, 10, 20, 50, … below T, and T − 1.
    public var tableDistances: [Int] {
        var distances: [Int] = []
        var decade = 1
        outer: while true {
            for multiple in [1, 2, 5] {
                let d = multiple * decade
                if d > sequenceLength - 1 { break outer }
                distances.append(d)
            }
            decade *= 10
        }
        distances = [0] + distances
        if distances.last != sequenceLength - 1 { distances.append(sequenceLength - 1) }
        return distances
    }

    /// Numbers for a metrics record (JSON-lines), keys prefixed by the caller as it likes.
    public var metrics: [String: Double] {
        var values: [String: Double] = [
            "spectral_radius": spectralRadius,
            "sigma_max": largestSingularValue,
            "jacobian_per_step": jacobian.perStepFactor,
            "jacobian_product": jacobian.product,
            "jacobian_window": Double(jacobian.window),
            "mean_loss": meanLoss,
        ]
        let norms = profile.meanNorms
        values["dh_norm_d0"] = norms.first
        values["dh_norm_dmax"] = norms.last
        if let slope = profile.log10SlopePerStep { values["dh_log10_slope_per_step"] = slope }
        if let clippedFraction { values["clipped_fraction"] = clippedFraction }
        return values
    }

    /// The readable table `rnn-dist diagnose` prints.
    public var table: String {
        let H = shape.hiddenSize, T = sequenceLength
        var lines: [String] = []
        let model = modelName.isEmpty ? "" : "\(modelName) (\(modelDescription)), "
        lines.append("gradient diagnostics: \(model)H=\(H), V=\(shape.vocabularySize)")
        lines.append("data: \(corpusName), \(batches) batch\(batches == 1 ? "" : "es") × \(batchSize) sequences × T=\(T) "
            + "(seed \(seed)), mean loss \(Self.fixed(meanLoss, 4)) nats/token")
        lines.append("")
        lines.append("gradient flow: mean ‖∂L/∂h_t‖ by distance d = T−1−t from the end of the sequence")
        lines.append("       d   mean ‖dh‖   relative to d=0")
        let norms = profile.meanNorms
        for d in tableDistances {
            let value = norms[d]
            let relative = norms[0] > 0 && value.isFinite ? Self.scientific(value / norms[0]) : "-"
            lines.append(Self.pad(String(d), 8) + "   " + Self.pad(Self.scientific(value), 9) + "   " + Self.pad(relative, 15))
        }
        lines.append("verdict (profile): \(profile.verdictDescription)")
        lines.append("")
        let rows: [(String, String)] = [
            ("spectral radius ρ(W_hh)", Self.fixed(spectralRadius, 6)),
            ("largest singular value σ_max(W_hh)", Self.fixed(largestSingularValue, 6)),
            ("Jacobian factor ‖W_hhᵀ diag(1−h²)‖, geometric mean per step", Self.fixed(jacobian.perStepFactor, 6)),
            ("Jacobian product over \(jacobian.window) steps (geometric mean, \(jacobian.windowCount) windows)",
             Self.scientific(jacobian.product) + "  → " + (jacobianVerdict == .exploding ? "may explode" : jacobianVerdict.rawValue)),
            ("clipped steps", clippedDescription),
        ]
        let width = rows.map { $0.0.count }.max()!
        for (label, value) in rows {
            lines.append(label + ":" + String(repeating: " ", count: width - label.count + 2) + value)
        }
        if requestedWindow > jacobian.window {
            lines.append("(window shortened from \(requestedWindow) to the sequence length \(T))")
        }
        lines.append("verdict (Jacobian): \(jacobianVerdictDescription)")
        lines.append("verdict: \(verdict)")
        return lines.joined(separator: "\n")
    }

    /// One line. The product of the factor norms bounds the propagated gradient from above
    /// (‖J₁⋯J_W‖ ≤ ‖J₁‖⋯‖J_W‖): below 1 the gradient surely vanishes; above 1 it may explode.
    public var jacobianVerdictDescription: String {
        let factor = jacobian.perStepFactor
        guard factor.isFinite else {
            return jacobian.meanLogProduct.isNaN ? "no windows (sequences shorter than the window)"
                : "exploding: the Jacobian product is not finite"
        }
        let decades = jacobian.meanLogProduct / log(10)
        let over = "10^\(Self.fixed(decades, 1)) over \(jacobian.window) steps"
        switch jacobianVerdict {
        case .vanishing:
            return "vanishing: the backward signal shrinks at least ×\(Self.fixed(factor, 3)) per step, \(over)"
        case .exploding:
            return "exploding possible: the factor norms multiply to ×\(Self.fixed(factor, 3)) per step, \(over) "
                + "(an upper bound on the growth; the profile shows whether it happens)"
        case .neutral: return "neutral: the backward signal keeps its size (×1 per step)"
        }
    }

    /// The verdict for a title: "vanishing" when the Jacobian bound is below 1 (certain),
    /// otherwise the profile's verdict (the bound above 1 only allows growth).
    public var verdict: String {
        switch jacobianVerdict {
        case .vanishing: return GradientFlowProfile.Verdict.vanishing.rawValue
        case .exploding, .neutral: return profile.verdict.rawValue
        }
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

/// An option or input that `diagnose` cannot work with (bad input: exit 1).
public struct DiagnosticsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
