import ArgumentParser
import Foundation
import Plot
import Training
import Reporting
import RunErrors

/// `rnn-dist plot METRICS.jsonl -o curves.svg`: a run's curves on one SVG page. No MPI.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot a metrics file (--metrics) as one SVG page: loss, gradient norm and throughput against tokens.",
        discussion: """
        Panels: train loss and validation loss (when present); the gradient norm before clipping \
        (log scale); tokens/s; and, when the metrics hold per-rank timing, the compute imbalance \
        (max/mean over ranks). A run that is still writing the file can be plotted. \
        View it in a browser, or convert it: rsvg-convert curves.svg -o curves.png
        """
    )

    @Argument(help: "The metrics JSON-lines file written with --metrics.") var metrics: String
    @Option(name: [.customShort("o"), .long], help: "The SVG file to write (default: the metrics file's name with .svg).")
    var output: String?

    func run() throws {
        let records: [MetricsRecord]
        do {
            records = try MetricsLog.read(path: metrics)
        } catch {
            throw RunError.badInput(String(describing: error))
        }
        let destination = output ?? Self.defaultOutput(for: metrics)
        let page = Self.page(records, title: URL(fileURLWithPath: metrics).lastPathComponent)
        do {
            try page.svg().write(toFile: destination, atomically: true, encoding: .utf8)
        } catch {
            throw RunError.badInput("cannot write \(destination): \((error as NSError).localizedDescription)")
        }
        print("wrote \(destination): \(records.count) points, \(page.plots.count) panels")
    }

    static func defaultOutput(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.pathExtension.isEmpty ? path + ".svg" : url.deletingPathExtension().path + ".svg"
    }

    /// The page: x is tokens trained (steps when the file has no token counts).
    static func page(_ records: [MetricsRecord], title: String) -> SVGPage {
        let hasTokens = records.contains { $0.tokens != nil }
        let rawX = records.map { (hasTokens ? $0.tokens : $0.step) ?? .nan }
        // Tick labels such as 0.4 (millions) read better than 4e5.
        let (xScaleFactor, xUnit) = unit(for: rawX)
        let x = rawX.map { $0 / xScaleFactor }
        let xLabel = (hasTokens ? "tokens trained" : "step") + xUnit
        func column(_ key: String) -> [Double] { records.map { $0[key] ?? .nan } }
        func present(_ key: String) -> Bool { records.contains { $0[key] != nil } }
        let width = 760.0, height = 300.0

        var loss = LinePlot(title: "Loss", xLabel: xLabel, yLabel: "cross-entropy (nats/token)",
                            width: width, height: height)
        loss.add(PlotSeries(name: "train loss", x: x, y: column("loss")))
        if present("val_loss") {
            // Validation is logged only at some steps: plot just those, with markers.
            let indices = records.indices.filter { records[$0].validationLoss != nil }
            loss.add(PlotSeries(name: "validation loss", x: indices.map { x[$0] },
                                y: indices.map { records[$0].validationLoss! }, markers: indices.count < 40))
        }
        var gradient = LinePlot(title: "Gradient norm before clipping", xLabel: xLabel, yLabel: "‖g‖ (L2)",
                                yScale: .log10, width: width, height: height)
        gradient.add(PlotSeries(name: "", x: x, y: column("grad_norm")))
        let rate = column("tokens_per_s")
        let (rateFactor, rateUnit) = unit(for: rate)
        var throughput = LinePlot(title: "Throughput", xLabel: xLabel, yLabel: "tokens/s, all ranks" + rateUnit,
                                  width: width, height: height)
        throughput.add(PlotSeries(name: "", x: x, y: rate.map { $0 / rateFactor }))
        var plots = [loss, gradient, throughput]
        if present("imbalance") {
            var imbalance = LinePlot(title: "Per-rank compute imbalance", xLabel: xLabel,
                                     yLabel: "max / mean compute time", width: width, height: height)
            imbalance.add(PlotSeries(name: "", x: x, y: column("imbalance")))
            plots.append(imbalance)
        }
        return SVGPage(title: "Training curves: " + title, plots: plots)
    }

    /// Divide by 1e6 or 1e3 when the values reach that far, and say so in the axis label.
    static func unit(for values: [Double]) -> (factor: Double, label: String) {
        let largest = values.filter(\.isFinite).map(abs).max() ?? 0
        if largest >= 1e6 { return (1e6, " (millions)") }
        if largest >= 1e4 { return (1e3, " (thousands)") }
        return (1, "")
    }
}
