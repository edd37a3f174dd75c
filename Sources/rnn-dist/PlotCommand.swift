import ArgumentParser
import Foundation
import Plot
import Training
import Reporting
import RunErrors

/// `rnn-dist plot METRICS.jsonl -o curves.svg`: a run's curves on one SVG page; several files:
/// their losses side by side (PlotComparison). No MPI.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot a metrics file (--metrics) as one SVG page: loss, gradient norm and throughput against tokens.",
        discussion: """
        Panels: train loss and validation loss (when present); the gradient norm before clipping \
        (log scale); tokens/s; and, when the metrics hold per-rank timing, the compute imbalance \
        (max/mean over ranks). A run that is still writing the file can be plotted. \
        View it in a browser, or convert it: rsvg-convert curves.svg -o curves.png

        Several metrics files: their training losses on one page, against step and against \
        minutes of training, one line per run (named by --label, in order, or by the file name); \
        --floor divides every loss by it (a synthetic task's entropy floor) and draws the floor \
        and each --mark ratio as reference lines.

        --final: one point per file instead, its last training loss (divided by its --floor: \
        one for all files or one per file) at its --x (one per file, e.g. the delay of a memory \
        task); the files with the same --label make one line through the median at each x, with \
        a bar from the smallest to the largest (the spread over seeds).

        --timeline: the file is a trace written with --trace; draws every rank's steps, their \
        phases and the gradient buckets in flight against time (--steps A-B: only those steps).
        """
    )

    @Argument(help: "The metrics JSON-lines file(s) written with --metrics (with --timeline: one trace written with --trace).")
    var metrics: [String]
    @Option(name: [.customShort("o"), .long], help: "The SVG file to write (default: the first metrics file's name with .svg).")
    var output: String?
    @Option(help: "Several files: the name of each run's line, in the order of the files (default: the file names).")
    var label: [String] = []
    @Option(help: "Several files: divide every loss by this (e.g. the entropy floor the runs printed); with --final one for all files or one per file.")
    var floor: [Double] = []
    @Option(help: "Several files with --floor: draw a reference line at this ratio to the floor (repeatable).")
    var mark: [Double] = []
    @Flag(help: "One point per file: its last training loss against its --x, a line per --label (median and range).")
    var final = false
    @Option(help: "With --final: each file's x value, in the order of the files.")
    var x: [Double] = []
    @Option(name: .customLong("x-label"), help: "With --final: the x axis title.")
    var xLabel = "x"
    @Flag(name: .customLong("log-x"), help: "With --final: a logarithmic x axis.")
    var logX = false
    @Flag(help: "The file is a trace (--trace): draw it as a timeline of every rank.")
    var timeline = false
    @Option(help: "With --timeline: the steps to show, as A-B (1-based, inclusive; default: all).")
    var steps: String?

    func validate() throws {
        guard !metrics.isEmpty else { throw ValidationError("give at least one metrics file") }
        if timeline {
            guard metrics.count == 1, label.isEmpty, floor.isEmpty, mark.isEmpty, !final, x.isEmpty, !logX else {
                throw ValidationError("--timeline draws one trace file; --label, --floor, --mark, --final, --x and --log-x do not apply")
            }
            _ = try stepRange()
            return
        }
        guard steps == nil else { throw ValidationError("--steps goes with --timeline") }
        guard label.isEmpty || label.count == metrics.count else {
            throw ValidationError("\(label.count) --label for \(metrics.count) metrics files: give one per file or none")
        }
        for floor in floor where !(floor > 0 && floor.isFinite) { throw ValidationError("--floor must be a positive number, got \(floor)") }
        if final {
            guard x.count == metrics.count else { throw ValidationError("\(x.count) --x for \(metrics.count) metrics files: --final needs one per file") }
            guard floor.count <= 1 || floor.count == metrics.count else {
                throw ValidationError("\(floor.count) --floor for \(metrics.count) metrics files: give one for all or one per file")
            }
            if logX, let bad = x.first(where: { !($0 > 0) }) { throw ValidationError("--log-x needs every --x above 0, got \(bad)") }
            return
        }
        guard x.isEmpty && !logX && xLabel == "x" else { throw ValidationError("--x, --x-label and --log-x go with --final") }
        guard floor.count <= 1 else { throw ValidationError("\(floor.count) --floor: several files compare over one floor") }
        guard metrics.count > 1 || (label.isEmpty && floor.isEmpty && mark.isEmpty) else {
            throw ValidationError("--label, --floor and --mark compare several metrics files; give two or more")
        }
    }

    /// `--steps A-B` (or one step N).
    private func stepRange() throws -> ClosedRange<Int>? {
        guard let steps else { return nil }
        let parts = steps.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(parts.count), let a = parts.first ?? nil, let b = parts.last ?? nil, a >= 1, b >= a else {
            throw ValidationError("--steps takes A-B with 1 <= A <= B (or one step), got \(steps)")
        }
        return a...b
    }

    func run() throws {
        if timeline {
            let destination = output ?? Self.defaultOutput(for: metrics[0])
            let (svg, bars) = try PlotTimeline.page(path: metrics[0], steps: try stepRange())
            do {
                try svg.write(toFile: destination, atomically: true, encoding: .utf8)
            } catch {
                throw RunError.badInput("cannot write \(destination): \((error as NSError).localizedDescription)")
            }
            return print("wrote \(destination): a timeline of \(bars) intervals")
        }
        let runs = try metrics.enumerated().map { index, path in
            do {
                return PlotComparison.Run(label: label.isEmpty ? URL(fileURLWithPath: path).lastPathComponent : label[index],
                                          records: try MetricsLog.read(path: path))
            } catch {
                throw RunError.badInput(String(describing: error))
            }
        }
        let destination = output ?? Self.defaultOutput(for: metrics[0])
        let page: SVGPage
        if final {
            let finals = runs.enumerated().map { index, run in
                PlotFinals.Run(label: run.label, x: x[index], floor: floor.count > 1 ? floor[index] : floor.first ?? 1, records: run.records)
            }
            page = PlotFinals.page(finals, xLabel: xLabel, logX: logX, divided: !floor.isEmpty, marks: mark)
        } else {
            page = runs.count == 1 ? Self.page(runs[0].records, title: runs[0].label)
                                   : PlotComparison.page(runs, floor: floor.first, marks: mark)
        }
        do {
            try page.svg().write(toFile: destination, atomically: true, encoding: .utf8)
        } catch {
            throw RunError.badInput("cannot write \(destination): \((error as NSError).localizedDescription)")
        }
        print("wrote \(destination): \(runs.map(\.records.count).reduce(0, +)) points, \(page.plots.count) panels")
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
