import Diagnostics
import Plot
import RNN

/// The gradient-survival chart of one or more diagnostics reports: survival against the
/// distance k on a log scale, one colour per model and layer, the cell state's curve dashed,
/// and the 1% line the "vanishing" verdict is read at.
enum DiagnosticsPlot {
    /// Survival below this is not drawn: it would stretch the log axis over decades of
    /// nothing and squash the curves that matter (the legend says where a curve stops).
    static let floor = 1e-8

    static func plot(_ reports: [DiagnosticsReport]) -> LinePlot {
        let title = reports.count == 1
            ? "\(reports[0].shortName) — \(reports[0].verdict.word)"
            : "gradient survival of \(reports.count) models"
        var plot = LinePlot(title: title, xLabel: "k, steps back from the loss at step t",
                            yLabel: "mean ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖", yScale: .log10, width: 820, height: 520)
        var colorIndex = 0, longest = 0
        for report in reports {
            let curves = report.survival.curves
            for layer in 0..<report.architecture.layers {
                let color = LinePlot.palette[colorIndex % LinePlot.palette.count]
                colorIndex += 1
                for curve in curves where curve.layer == layer {
                    longest = max(longest, curve.values.count - 1)
                    let shown = curve.values.prefix { !($0.isFinite && $0 < floor) }
                    var name = "\(report.shortName), \(curve.name): \(curve.verdict.word)"
                    if shown.count < curve.values.count { name += " (< 1e-8 from k = \(shown.count))" }
                    plot.add(PlotSeries(name: name, y: Array(shown), color: color, markers: curve.values.count <= 40,
                                        dashed: curve.path == .c))
                }
            }
        }
        let threshold = GradientSurvivalProfile.Verdict.vanishingThreshold
        plot.add(PlotSeries(name: "1%: below it the gradient has vanished", x: [0, Double(max(1, longest))],
                            y: [threshold, threshold], color: "#999999", dashed: true))
        return plot
    }
}
