import Foundation
import Plot
import Reporting

/// `rnn-dist plot --final --x X … A.jsonl B.jsonl … --label …`: one point per run, its last
/// training loss at its x (the delay of a memory task, say), so that runs over seeds and over a
/// setting read as one curve per label: the line goes through the median of the runs that share
/// (label, x), and a bar of the same colour spans the smallest to the largest of them.
enum PlotFinals {
    struct Run {
        var label: String
        var x: Double
        /// The loss is divided by this (the run's entropy floor; 1 for raw losses).
        var floor: Double
        var records: [MetricsRecord]
    }

    struct Point: Equatable {
        var x: Double
        var median: Double
        var low: Double
        var high: Double
    }

    /// The points of each label, in the order the labels first appear, sorted by x; a run
    /// without a loss record has no point.
    static func points(_ runs: [Run]) -> [(label: String, points: [Point])] {
        var labels: [String] = []
        var values: [String: [Double: [Double]]] = [:]
        for run in runs {
            guard let loss = run.records.last(where: { $0["loss"] != nil })?["loss"] else { continue }
            if values[run.label] == nil { labels.append(run.label) }
            values[run.label, default: [:]][run.x, default: []].append(loss / run.floor)
        }
        return labels.map { label in
            let points = values[label, default: [:]].map { x, ys in
                let sorted = ys.sorted()
                let middle = sorted.count / 2
                let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
                return Point(x: x, median: median, low: sorted[0], high: sorted[sorted.count - 1])
            }
            return (label, points.sorted { $0.x < $1.x })
        }
    }

    static func page(_ runs: [Run], xLabel: String, logX: Bool, divided: Bool, marks: [Double]) -> SVGPage {
        let yLabel = divided ? "final train loss / entropy floor" : "final train loss (nats/token)"
        var plot = LinePlot(title: "Final loss against \(xLabel): median and range of the runs", xLabel: xLabel, yLabel: yLabel,
                            xScale: logX ? .log10 : .linear, width: 760, height: 400)
        let groups = points(runs)
        for (index, group) in groups.enumerated() {
            let color = LinePlot.palette[index % LinePlot.palette.count]
            let count = runs.filter { $0.label == group.label }.count
            plot.add(PlotSeries(name: "\(group.label) (\(count) runs)", x: group.points.map(\.x), y: group.points.map(\.median),
                                color: color, markers: true))
            for point in group.points where point.high > point.low {
                plot.add(PlotSeries(name: "", x: [point.x, point.x], y: [point.low, point.high], color: color))
            }
        }
        let xs = groups.flatMap { $0.points.map(\.x) }
        if let low = xs.min(), let high = xs.max() {
            let references = (divided ? [(1.0, "entropy floor", "#000000")] : []) + marks.map { ($0, "\($0) × floor", "#999999") }
            for (y, name, color) in references { plot.add(PlotSeries(name: name, x: [low, high], y: [y, y], color: color, dashed: true)) }
        }
        return SVGPage(title: "Final losses: " + groups.map(\.label).joined(separator: ", "), plots: [plot])
    }
}
