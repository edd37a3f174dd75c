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
            for (index, ratio) in ([1.0] + marks).enumerated() {
                let gray = index == 0 ? "#000000" : "#999999"
                let name = index == 0 ? "entropy floor" : "\(ratio) × floor"
                for plot in [0, 1] {
                    let xs = (plot == 0 ? byStep : byTime).series.flatMap(\.x).filter(\.isFinite)
                    guard let low = xs.min(), let high = xs.max() else { continue }
                    let line = PlotSeries(name: name, x: [low, high], y: [ratio, ratio], color: gray)
                    if plot == 0 { byStep.add(line) } else { byTime.add(line) }
                }
            }
        }
        return SVGPage(title: "Training curves: " + runs.map(\.label).joined(separator: ", "), plots: [byStep, byTime])
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
