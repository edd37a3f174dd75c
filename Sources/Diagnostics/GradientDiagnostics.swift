import Buffers
import Foundation
import RNN
import Checkpoints
import TextData

/// Vanishing / exploding gradient diagnostics of a model on a corpus (`rnn-dist diagnose`),
/// for every cell and layer count:
///
/// - gradient survival: for each distance k, the mean over t of ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖
///   per layer, and for lstm through the cell state, by backpropagating each step's loss alone
///   over a few batches (StackedBPTTWorkspace.gradientSurvival, GradientSurvivalProfile). The
///   verdict is read off this curve and nothing else.
/// - for rnn cells, the spectral radius and largest singular value of each W_hh.l
///   (SpectralAnalysis): properties of the matrix, not verdicts.
/// - for the one-layer tanh RNN, the mean over windows of W steps of ∏ ‖W_hhᵀ diag(1 − h_k²)‖₂
///   along the hidden states of those batches (JacobianProductStatistics): an upper bound on
///   each window's survival, reported as a bound next to the measured survival at k = W.
public enum GradientDiagnostics {
    public struct Options: Equatable, Sendable {
        /// Batches of `batchSize` training sequences of `sequenceLength` tokens.
        public var batches: Int
        public var batchSize: Int
        public var sequenceLength: Int
        /// Steps per Jacobian-product window (clamped to the sequence length; tanh RNN only).
        public var window: Int
        /// Chooses the sequences (a seeded permutation of the training sequences).
        public var seed: UInt64
        /// Power iterations per Jacobian factor.
        public var factorIterations: Int
        /// Average the survival over at most this many loss steps t per sequence (evenly
        /// spaced, counting down from T); nil: every t. The cost is proportional to it.
        public var lossSteps: Int?
        /// The recurrence path of the Float workspace (the executable's choice, RNN_DIST_KERNEL).
        public var kernel = RecurrenceKernel.best

        public init(batches: Int = 4, batchSize: Int = 16, sequenceLength: Int = 64, window: Int = 20,
                    seed: UInt64 = 1, factorIterations: Int = 30, lossSteps: Int? = nil) {
            self.batches = batches
            self.batchSize = batchSize
            self.sequenceLength = sequenceLength
            self.window = window
            self.seed = seed
            self.factorIterations = factorIterations
            self.lossSteps = lossSteps
        }

        /// Throws `DiagnosticsError` naming the first out-of-range option.
        public func validate() throws {
            guard batches >= 1 else { throw DiagnosticsError("--batches must be at least 1, got \(batches)") }
            guard batchSize >= 1 else { throw DiagnosticsError("--batch-size must be at least 1, got \(batchSize)") }
            guard sequenceLength >= 1 else { throw DiagnosticsError("--seq-len must be at least 1, got \(sequenceLength)") }
            guard window >= 1 else { throw DiagnosticsError("--window must be at least 1, got \(window)") }
            guard factorIterations >= 1 else { throw DiagnosticsError("factor iterations must be at least 1, got \(factorIterations)") }
            if let lossSteps, lossSteps < 1 { throw DiagnosticsError("--loss-steps must be at least 1, got \(lossSteps)") }
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
        var report = try run(parameters: model.parameters, architecture: model.architecture, tokens: corpus.train,
                             corpusName: corpus.name, options: options)
        report.modelName = model.path
        report.modelDescription = model.kind == .checkpoint ? "checkpoint" : "parameters"
        if let step = model.step { report.modelDescription += ", step \(step)" }
        report.clippedFraction = model.clippedFraction
        report.clippedDescription = model.clippedFractionDescription
        return report
    }

    /// The computation on raw parameters (in `ModelLayout(architecture:)` order) and training
    /// tokens. `tokens` must hold at least one sequence (sequenceLength + 1 tokens). Every
    /// sequence starts from h = c = 0, without dropout (the model as evaluation sees it).
    public static func run(parameters: Buffer<Float>, architecture: ModelArchitecture, tokens: TokenSequence,
                           corpusName: String, options: Options) throws -> DiagnosticsReport {
        try options.validate()
        let T = options.sequenceLength, B = options.batchSize
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

        let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: B, sequenceLength: T,
                                                    kernel: options.kernel)
        let inputs = Buffer<Int32>(count: B * T, repeating: 0)
        let targets = Buffer<Int32>(count: B * T, repeating: 0)
        var survival = GradientSurvivalProfile(architecture: architecture, sequenceLength: T)
        var hiddenStates: [[[Double]]] = []
        var loss = 0.0
        for batch in 0..<options.batches {
            let sequences = (0..<B).map { order[(batch * B + $0) % order.count] }
            try dataset.fill(sequences: sequences, inputs: inputs, targets: targets)
            loss += workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: B, initialState: nil)
            // The tanh RNN's Jacobians W_hh^T diag(1 − h²) need the states of this forward.
            if architecture.isLegacyTanhRNN { hiddenStates += workspace.hiddenStates(layer: 0) }
            survival.add(workspace.gradientSurvival(parameters: parameters, inputs: inputs, targets: targets, batchSize: B,
                                                    initialState: nil, lossSteps: options.lossSteps))
        }

        let layout = ModelLayout(architecture: architecture), H = architecture.hiddenSize
        // W_hh.l of a gated cell stacks G gate blocks ([G·H, H]): no square matrix to take the spectrum of.
        let spectra: [DiagnosticsReport.LayerSpectrum] = architecture.cell != .rnn ? [] : (0..<architecture.layers).map { l in
            let W_hh = layout.range(of: .W_hh(layer: l))!.lowerBound
            return DiagnosticsReport.LayerSpectrum(
                layer: l, spectralRadius: SpectralAnalysis.spectralRadius(of: parameters, offset: W_hh, size: H),
                largestSingularValue: SpectralAnalysis.largestSingularValue(of: parameters, offset: W_hh, size: H))
        }
        let jacobian = !architecture.isLegacyTanhRNN ? nil : SpectralAnalysis.jacobianProductNorms(
            parameters: parameters, layout: layout, hiddenStates: hiddenStates,
            window: min(options.window, T), factorNorm: .spectral(iterations: options.factorIterations), seed: options.seed)
        return DiagnosticsReport(
            modelName: "", modelDescription: "", corpusName: corpusName, architecture: architecture,
            batches: options.batches, batchSize: B, sequenceLength: T, requestedWindow: options.window,
            seed: options.seed, lossSteps: options.lossSteps, meanLoss: loss / Double(options.batches * B * T), survival: survival,
            spectra: spectra, jacobian: jacobian, clippedFraction: nil,
            clippedDescription: "unknown (not recorded in this file)")
    }
}

/// An option or input that `diagnose` cannot work with (bad input: exit 1).
public struct DiagnosticsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
