import ArgumentParser
import BLAS
import Foundation
import Checkpoints
import Diagnostics
import RNN
import RunErrors
import TextData

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "How far back gradients reach in one or more trained models (one process).",
        discussion: """
        For each model (rnn, lstm or gru, any layer count) backpropagates the loss of each \
        step t alone over a few batches of the corpus and prints, for each distance k, the mean \
        over t of ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖ — the share of the gradient that the loss at step \
        t sends back which survives k steps — per layer and, for lstm, through the cell state, \
        with a verdict read off that curve. For tanh RNNs also the spectral radius and largest \
        singular value of W_hh, and (one layer) the Jacobian-product bound next to the measured \
        survival. Repeat --checkpoint to compare models: one SVG draws every model's curves on a \
        log scale.
        """
    )

    @Option(help: "A checkpoint, a checkpoint folder (its newest valid checkpoint) or a --save parameters file; repeat it to compare models.")
    var checkpoint: [String] = []
    @Option(help: "Corpus path or synthetic:NAME (default: each checkpoint's training data).") var data: String?
    @Option(parsing: .unconditional, help: "Batches to average over.") var batches: Int = 4
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per batch.") var batchSize: Int = 16
    @Option(name: .customLong("seq-len"), parsing: .unconditional,
            help: "T, steps per sequence (default: each checkpoint's seq-len, else 64).") var seqLen: Int?
    @Option(parsing: .unconditional, help: "Steps per Jacobian-product window (one-layer tanh RNN).") var window: Int = 20
    @Option(help: "Where to write the SVG plot of the gradient survival.") var plot: String = "gradient-flow.svg"
    @Option(parsing: .unconditional, help: "Seed that picks the sequences.") var seed: Int = 1
    @Option(name: .customLong("loss-steps"), parsing: .unconditional,
            help: "Average over at most this many loss steps t per sequence, evenly spaced from T (default: every t; the cost is proportional).")
    var lossSteps: Int?

    func validate() throws {
        guard !checkpoint.isEmpty else { throw ValidationError("--checkpoint is required (repeat it to compare models)") }
    }

    func run() throws {
        SingleProcess.run {
            let options = GradientDiagnostics.Options(batches: batches, batchSize: batchSize, sequenceLength: seqLen ?? 64,
                                                      window: window, seed: UInt64(bitPattern: Int64(seed)), lossSteps: lossSteps)
            try options.validate()
            BLAS.threadCount = BLASThreads.perRank(ranks: 1)
            // Every model is read and measured before anything is printed: a bad one prints nothing.
            let reports = try checkpoint.map { path in
                let model = try ModelFile.load(path: path, warning: StandardError.warning)
                var resolved = options
                resolved.sequenceLength = seqLen ?? model.config?.seqLen ?? 64
                resolved.kernel = try RecurrenceKernel.fromEnvironment()
                guard let source = try data.map(DataSource.init(parsing:)) ?? model.config?.data else {
                    throw RunError.badInput("--data is required: \(model.path) is a parameters file and does not record its training data")
                }
                let corpus = try source.load(tokenizer: model.vocabulary.tokenizer,
                                                   validationFraction: model.config?.validationFraction ?? 0.1,
                                                   vocabulary: model.vocabulary)
                return try GradientDiagnostics.run(model: model, corpus: corpus, options: resolved)
            }
            print(reports.map(\.table).joined(separator: "\n\n"))
            let svg = DiagnosticsPlot.plot(reports).svg()
            do {
                try Data(svg.utf8).write(to: URL(fileURLWithPath: plot))
            } catch {
                throw RunError.fault("cannot write the plot \(plot): \((error as NSError).localizedDescription)")
            }
            print("plot written to \(plot)")
        }
    }
}
