import ArgumentParser
import BLAS
import Foundation
import Plot
import RNN
import Training
import Checkpoints
import Diagnostics
import RunErrors
import TextData

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Vanishing/exploding gradient diagnostics of a trained model (one process).",
        discussion: """
        Runs full BPTT over a few batches of the corpus and prints the mean ‖∂L/∂h_t‖ against \
        the distance from the loss, the spectral radius and largest singular value of W_hh, the \
        mean product of the backward Jacobians W_hhᵀ diag(1 − h²) over a window (below 1: \
        vanishing, above 1: exploding) and the fraction of clipped training steps when the file \
        records it; writes an SVG plot of the gradient flow.
        """
    )

    @Option(help: "A checkpoint, a checkpoint folder (its newest valid checkpoint) or a --save parameters file.")
    var checkpoint: String
    @Option(help: "Corpus path or synthetic:NAME (default: the checkpoint's training data).") var data: String?
    @Option(parsing: .unconditional, help: "Batches to average over.") var batches: Int = 4
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Sequences per batch.") var batchSize: Int = 16
    @Option(name: .customLong("seq-len"), parsing: .unconditional,
            help: "T, steps per sequence (default: the checkpoint's seq-len, else 64).") var seqLen: Int?
    @Option(parsing: .unconditional, help: "Steps per Jacobian-product window.") var window: Int = 20
    @Option(help: "Where to write the SVG plot of the gradient flow.") var plot: String = "gradient-flow.svg"
    @Option(parsing: .unconditional, help: "Seed that picks the sequences.") var seed: Int = 1

    func run() throws {
        SingleProcess.run {
            let options = GradientDiagnostics.Options(batches: batches, batchSize: batchSize, sequenceLength: seqLen ?? 64,
                                                      window: window, seed: UInt64(bitPattern: Int64(seed)))
            try options.validate()
            let model = try ModelFile.load(path: checkpoint, warning: StandardError.warning)
            var resolved = options
            resolved.sequenceLength = seqLen ?? model.config?.seqLen ?? 64
            guard let spec = data ?? model.config?.data else {
                throw RunError.badInput("--data is required: \(model.path) is a parameters file and does not record its training data")
            }
            let corpus = try CorpusSource.load(spec: spec, tokenizer: model.vocabulary.tokenizer,
                                               validationFraction: model.config?.validationFraction ?? 0.1,
                                               vocabulary: model.vocabulary)
            BLAS.threadCount = BLASThreads.perRank(ranks: 1)
            let report = try GradientDiagnostics.run(model: model, corpus: corpus, options: resolved)
            print(report.table)
            let svg = DiagnosticsPlot.plot(report).svg()
            do {
                try Data(svg.utf8).write(to: URL(fileURLWithPath: plot))
            } catch {
                throw RunError.fault("cannot write the plot \(plot): \((error as NSError).localizedDescription)")
            }
            print("plot written to \(plot)")
        }
    }
}

/// The gradient-flow chart of a diagnostics report: mean ‖∂L/∂h_t‖ against the distance from
/// the loss on a log scale, with the decay the Jacobian product predicts for comparison.
enum DiagnosticsPlot {
    static func plot(_ report: DiagnosticsReport) -> LinePlot {
        let norms = report.profile.meanNorms
        let distances = norms.indices.map(Double.init)
        var name = report.modelName.isEmpty ? "model" : URL(fileURLWithPath: report.modelName).lastPathComponent
        if name.count > 36 { name = String(name.prefix(17)) + "…" + String(name.suffix(18)) }
        let factor = report.jacobian.perStepFactor
        let verdict = report.verdict + (factor.isFinite ? " (Jacobian ×\(String(format: "%.3f", factor))/step)" : "")
        var plot = LinePlot(title: "\(name) — \(verdict)",
                            xLabel: "distance from the loss (steps)", yLabel: "mean ‖∂L/∂h_t‖",
                            yScale: .log10, width: 760, height: 440)
        // ‖dh‖ at d = 0 times the per-step Jacobian factor^d: the most the signal of one loss term
        // can grow (or the least it shrinks) by, kept within a decade of the measured range so that it does not squash it.
        let finite = norms.filter { $0.isFinite && $0 > 0 }
        if let start = norms.first, start.isFinite, start > 0, factor.isFinite, factor > 0,
           let low = finite.min(), let high = finite.max() {
            let predicted = distances.map { (d: $0, value: start * pow(factor, $0)) }
                .filter { $0.value >= low / 10 && $0.value <= high * 10 }
            plot.add(PlotSeries(name: "Jacobian bound ‖dh₀‖ · \(String(format: "%.3f", factor))ᵈ",
                                x: predicted.map(\.d), y: predicted.map(\.value), color: "#d62728"))
        }
        // Added last so that it is drawn over the prediction where the two coincide.
        plot.add(PlotSeries(name: "measured mean ‖∂L/∂h_t‖", x: distances, y: norms, color: "#1f77b4",
                            markers: norms.count <= 40))
        return plot
    }
}
