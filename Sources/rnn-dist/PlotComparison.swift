import Foundation
import Plot
import Reporting

/// `rnn-dist plot A.jsonl B.jsonl … [--label …] [--floor X]`: several runs' training losses on
/// one page, against step and against training minutes, so that runs of different speed (a tanh
/// RNN and an LSTM) compare both ways. With `--floor` the losses are divided by it (e.g. the
/// entropy floor of a synthetic task, which the run prints) and reference lines mark 1, and
/// whatever `--mark` ratios are given.
enum PlotComparison {
    struct Run {
        var label: String
        var records: [MetricsRecord]
    }

    static func page(_ runs: [Run], floor: Double?, marks: [Double]) -> SVGPage {
        let scale = floor ?? 1
        let yLabel = floor == nil ? "train loss (nats/token)" : "train loss / entropy floor"
        let width = 760.0, height = 360.0
        var byStep = LinePlot(title: "Training loss against step", xLabel: "step", yLabel: yLabel, width: width, height: height)
        var byTime = LinePlot(title: "Training loss against time", xLabel: "minutes of training (tokens / tokens per second, summed)",
                              yLabel: yLabel, width: width, height: height)
        for (index, run) in runs.enumerated() {
            let color = LinePlot.palette[index % LinePlot.palette.count]
            let loss = run.records.map { ($0["loss"] ?? .nan) / scale }
            byStep.add(PlotSeries(name: run.label, x: run.records.map { $0.step ?? .nan }, y: loss, color: color))
            byTime.add(PlotSeries(name: run.label, x: minutes(run.records), y: loss, color: color))
        }
        if floor != nil {
            let references = [(1.0, "entropy floor", "#000000")] + marks.map { ($0, "\($0) × floor", "#999999") }
            byStep = adding(references, to: byStep)
            byTime = adding(references, to: byTime)
        }
        return SVGPage(title: "Training curves: " + runs.map(\.label).joined(separator: ", "), plots: [byStep, byTime])
    }

    /// The plot with a horizontal line at each (y, name, colour) across the x range of its data.
    private static func adding(_ references: [(Double, String, String)], to plot: LinePlot) -> LinePlot {
        let xs = plot.series.flatMap(\.x).filter(\.isFinite)
        guard let low = xs.min(), let high = xs.max() else { return plot }
        var plot = plot
        for (y, name, color) in references { plot.add(PlotSeries(name: name, x: [low, high], y: [y, y], color: color)) }
        return plot
    }

    /// Minutes at each record: each interval's new tokens over its tokens/s, summed (training
    /// time only: no start-up, no evaluation). NaN where a record lacks either.
    static func minutes(_ records: [MetricsRecord]) -> [Double] {
        var seconds = 0.0, previousTokens = 0.0
        return records.map { record in
            guard let tokens = record.tokens, let rate = record.tokensPerSecond, rate > 0 else { return .nan }
            seconds += (tokens - previousTokens) / rate
            previousTokens = tokens
            return seconds / 60
        }
    }
}
