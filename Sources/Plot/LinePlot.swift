import Foundation

/// A line chart of one or more series, rendered as a standalone SVG document (`svg()`) or as
/// a panel of an SVGPage: title, axis labels, linear or log10 axes with readable tick labels,
/// grid, legend. Points that cannot be shown (NaN, ±∞, or ≤ 0 on a log axis) are skipped —
/// the line breaks there — and counted in a note under the chart.
public struct LinePlot: Sendable, Equatable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xScale: AxisScale
    public var yScale: AxisScale
    /// Size of the whole panel in SVG user units (pixels).
    public var width: Double
    public var height: Double
    public var series: [PlotSeries]

    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public init(title: String, xLabel: String, yLabel: String, xScale: AxisScale = .linear,
                yScale: AxisScale = .linear, width: Double = 720, height: Double = 420,
                series: [PlotSeries] = []) {
        precondition(width >= 200 && height >= 150, "a plot needs at least 200×150, got \(width)×\(height)")
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xScale = xScale
        self.yScale = yScale
        self.width = width
        self.height = height
        self.series = series
    }

    public mutating func add(_ series: PlotSeries) { self.series.append(series) }

    /// The axes, the plotting area and the data → pixel mapping the SVG uses.
    public func layout() -> Layout {
        let shown = series.map { s in s.x.indices.filter { isShown(x: s.x[$0], y: s.y[$0]) } }
        let xs = zip(series, shown).flatMap { s, indices in indices.map { s.x[$0] } }
        let ys = zip(series, shown).flatMap { s, indices in indices.map { s.y[$0] } }
        var nonFinite = 0, nonPositive = 0
        for s in series {
            for i in s.x.indices where !isShown(x: s.x[i], y: s.y[i]) {
                if s.x[i].isFinite && s.y[i].isFinite { nonPositive += 1 } else { nonFinite += 1 }
            }
        }
        let notes = (nonFinite > 0 ? 1 : 0) + (nonPositive > 0 ? 1 : 0)
        let left = 82.0, right = 24.0, top = title.isEmpty ? 20.0 : 44.0
        let bottom = 56.0 + 14 * Double(notes)
        return Layout(xAxis: Axis(covering: xs, scale: xScale, targetTickCount: Int(max(3, (width - left - right) / 90))),
                      yAxis: Axis(covering: ys, scale: yScale, targetTickCount: Int(max(3, (height - top - bottom) / 50))),
                      left: left, top: top, plotWidth: width - left - right, plotHeight: height - top - bottom,
                      skippedNonFinite: nonFinite, skippedNonPositive: nonPositive, pointCount: xs.count)
    }

    /// Where the data goes inside the panel, and what was left out.
    public struct Layout: Sendable, Equatable {
        public let xAxis: Axis
        public let yAxis: Axis
        /// The plotting area: left, top, width, height in panel pixels (y grows downwards).
        public let left: Double, top: Double, plotWidth: Double, plotHeight: Double
        /// Points skipped because a coordinate was NaN or ±∞.
        public let skippedNonFinite: Int
        /// Points skipped because a coordinate was ≤ 0 on a log axis.
        public let skippedNonPositive: Int
        /// Points drawn.
        public let pointCount: Int

        /// The pixel position of a data point, nil if it is not shown.
        public func position(x: Double, y: Double) -> (x: Double, y: Double)? {
            guard let fx = xAxis.fraction(of: x), let fy = yAxis.fraction(of: y) else { return nil }
            return (left + fx * plotWidth, top + (1 - fy) * plotHeight)
        }
    }

    /// A standalone SVG document.
    public func svg() -> String {
        SVGPage(plots: [self]).svg()
    }

    /// How much of the drawn lines a box would cover: samples along every segment (and the
    /// isolated points) that fall inside it.
    private static func hiddenLength(_ lines: [[(x: Double, y: Double)]], x: Double, y: Double,
                                     width: Double, height: Double) -> Int {
        func inside(_ px: Double, _ py: Double) -> Bool {
            px >= x - 4 && px <= x + width + 4 && py >= y - 4 && py <= y + height + 4
        }
        var count = 0
        for line in lines {
            if line.count == 1, inside(line[0].x, line[0].y) { count += 8 }
            for (a, b) in zip(line, line.dropFirst()) {
                for k in 0..<8 {
                    let t = Double(k) / 8
                    if inside(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)) { count += 1 }
                }
            }
        }
        return count
    }

    /// The stroke-dasharray attribute of a dashed series ("" for a solid one).
    private static func dash(_ series: PlotSeries) -> String {
        series.dashed ? " stroke-dasharray=\"6 4\"" : ""
    }

    private func isShown(x: Double, y: Double) -> Bool {
        x.isFinite && y.isFinite && (xScale == .linear || x > 0) && (yScale == .linear || y > 0)
    }

    /// The panel's elements, in panel coordinates (the caller positions the group).
    func render(into out: inout String) {
        let layout = layout()
        let n = SVGText.number, e = SVGText.escape
        let (left, top, w, h) = (layout.left, layout.top, layout.plotWidth, layout.plotHeight)
        let right = left + w, bottom = top + h
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"white\"/>\n"
        if !title.isEmpty {
            out += "<text class=\"title\" x=\"\(n(left + w / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(e(title))</text>\n"
        }

        // Grid and ticks.
        out += "<g class=\"grid\" stroke-width=\"1\">\n"
        for v in layout.xAxis.minorTicks {
            guard let f = layout.xAxis.fraction(of: v), f > 0, f < 1 else { continue }
            out += "<line x1=\"\(n(left + f * w))\" y1=\"\(n(top))\" x2=\"\(n(left + f * w))\" y2=\"\(n(bottom))\" stroke=\"#f2f2f2\"/>\n"
        }
        for v in layout.yAxis.minorTicks {
            guard let f = layout.yAxis.fraction(of: v), f > 0, f < 1 else { continue }
            out += "<line x1=\"\(n(left))\" y1=\"\(n(bottom - f * h))\" x2=\"\(n(right))\" y2=\"\(n(bottom - f * h))\" stroke=\"#f2f2f2\"/>\n"
        }
        for v in layout.xAxis.ticks {
            guard let f = layout.xAxis.fraction(of: v) else { continue }
            out += "<line x1=\"\(n(left + f * w))\" y1=\"\(n(top))\" x2=\"\(n(left + f * w))\" y2=\"\(n(bottom))\" stroke=\"#dddddd\"/>\n"
        }
        for v in layout.yAxis.ticks {
            guard let f = layout.yAxis.fraction(of: v) else { continue }
            out += "<line x1=\"\(n(left))\" y1=\"\(n(bottom - f * h))\" x2=\"\(n(right))\" y2=\"\(n(bottom - f * h))\" stroke=\"#dddddd\"/>\n"
        }
        out += "</g>\n"
        out += "<rect class=\"frame\" x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(w))\" height=\"\(n(h))\" fill=\"none\" stroke=\"#444444\"/>\n"
        out += "<g class=\"x-ticks\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333333\">\n"
        for v in layout.xAxis.ticks {
            guard let f = layout.xAxis.fraction(of: v) else { continue }
            out += "<line x1=\"\(n(left + f * w))\" y1=\"\(n(bottom))\" x2=\"\(n(left + f * w))\" y2=\"\(n(bottom + 5))\" stroke=\"#444444\"/>"
            out += "<text x=\"\(n(left + f * w))\" y=\"\(n(bottom + 18))\">\(e(layout.xAxis.label(for: v)))</text>\n"
        }
        for v in layout.xAxis.labelledMinorTicks {
            guard let f = layout.xAxis.fraction(of: v) else { continue }
            out += "<text x=\"\(n(left + f * w))\" y=\"\(n(bottom + 16))\" font-size=\"9\" fill=\"#777777\">\(e(layout.xAxis.label(for: v)))</text>\n"
        }
        out += "</g>\n<g class=\"y-ticks\" font-size=\"11\" text-anchor=\"end\" fill=\"#333333\">\n"
        for v in layout.yAxis.ticks {
            guard let f = layout.yAxis.fraction(of: v) else { continue }
            out += "<line x1=\"\(n(left - 5))\" y1=\"\(n(bottom - f * h))\" x2=\"\(n(left))\" y2=\"\(n(bottom - f * h))\" stroke=\"#444444\"/>"
            out += "<text x=\"\(n(left - 8))\" y=\"\(n(bottom - f * h + 4))\">\(e(layout.yAxis.label(for: v)))</text>\n"
        }
        for v in layout.yAxis.labelledMinorTicks {
            guard let f = layout.yAxis.fraction(of: v) else { continue }
            out += "<text x=\"\(n(left - 8))\" y=\"\(n(bottom - f * h + 3))\" font-size=\"9\" fill=\"#777777\">\(e(layout.yAxis.label(for: v)))</text>\n"
        }
        out += "</g>\n"
        let xLabelText = xLabel + (xScale == .log10 ? " (log scale)" : "")
        let yLabelText = yLabel + (yScale == .log10 ? " (log scale)" : "")
        out += "<text class=\"x-label\" x=\"\(n(left + w / 2))\" y=\"\(n(bottom + 40))\" text-anchor=\"middle\" font-size=\"13\">\(e(xLabelText))</text>\n"
        out += "<text class=\"y-label\" transform=\"translate(18 \(n(top + h / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(e(yLabelText))</text>\n"

        // Series: one path per series, broken at skipped points; isolated points as dots.
        var drawn: [[(x: Double, y: Double)]] = []
        for (index, s) in series.enumerated() {
            let color = e(s.color ?? Self.palette[index % Self.palette.count])
            var segments: [[(x: Double, y: Double)]] = [[]]
            for i in s.x.indices {
                if let p = layout.position(x: s.x[i], y: s.y[i]) {
                    segments[segments.count - 1].append(p)
                } else if !segments[segments.count - 1].isEmpty {
                    segments.append([])
                }
            }
            var d = ""
            var dots: [(x: Double, y: Double)] = []
            for segment in segments where !segment.isEmpty {
                if segment.count == 1 { dots.append(segment[0]); continue }
                d += (d.isEmpty ? "" : " ") + "M" + segment.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " L")
            }
            if s.markers { dots = segments.flatMap { $0 } }
            drawn += segments
            out += "<g class=\"series\" data-name=\"\(e(s.name))\">\n"
            if !d.isEmpty {
                out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" stroke-linejoin=\"round\" stroke-linecap=\"round\"\(Self.dash(s))/>\n"
            }
            for p in dots {
                out += "<circle cx=\"\(n(p.x))\" cy=\"\(n(p.y))\" r=\"2.5\" fill=\"\(color)\"/>\n"
            }
            out += "</g>\n"
        }
        if layout.pointCount == 0 {
            out += "<text class=\"no-data\" x=\"\(n(left + w / 2))\" y=\"\(n(top + h / 2))\" text-anchor=\"middle\" font-size=\"14\" fill=\"#888888\">no data</text>\n"
        }

        // Legend inside the plotting area, in the corner that hides the least of the lines.
        let named = series.enumerated().filter { !$0.element.name.isEmpty }
        if !named.isEmpty {
            let longest = named.map { $0.element.name.count }.max()!
            let boxWidth = 36 + 6.6 * Double(longest), boxHeight = 8 + 16 * Double(named.count)
            let corners = [(right - boxWidth - 8, top + 8), (left + 8, top + 8),
                           (right - boxWidth - 8, bottom - boxHeight - 8), (left + 8, bottom - boxHeight - 8)]
            let (x0, y0) = corners.min { a, b in
                Self.hiddenLength(drawn, x: a.0, y: a.1, width: boxWidth, height: boxHeight)
                    < Self.hiddenLength(drawn, x: b.0, y: b.1, width: boxWidth, height: boxHeight)
            }!
            out += "<g class=\"legend\" font-size=\"11\">\n"
            out += "<rect x=\"\(n(x0))\" y=\"\(n(y0))\" width=\"\(n(boxWidth))\" height=\"\(n(boxHeight))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>\n"
            for (row, (index, s)) in named.enumerated() {
                let color = e(s.color ?? Self.palette[index % Self.palette.count])
                let y = y0 + 12 + 16 * Double(row)
                out += "<line x1=\"\(n(x0 + 6))\" y1=\"\(n(y))\" x2=\"\(n(x0 + 26))\" y2=\"\(n(y))\" stroke=\"\(color)\" stroke-width=\"2\"\(Self.dash(s))/>"
                out += "<text x=\"\(n(x0 + 31))\" y=\"\(n(y + 4))\">\(e(s.name))</text>\n"
            }
            out += "</g>\n"
        }

        // Notes on what was left out.
        var notes: [String] = []
        if layout.skippedNonFinite > 0 {
            notes.append("\(layout.skippedNonFinite) point\(layout.skippedNonFinite == 1 ? "" : "s") with NaN or infinite values not shown")
        }
        if layout.skippedNonPositive > 0 {
            notes.append("\(layout.skippedNonPositive) point\(layout.skippedNonPositive == 1 ? "" : "s") with values ≤ 0 not shown (log scale)")
        }
        for (row, note) in notes.enumerated() {
            out += "<text class=\"note\" x=\"\(n(left))\" y=\"\(n(bottom + 56 + 14 * Double(row)))\" font-size=\"10\" fill=\"#aa3333\">\(e(note))</text>\n"
        }
    }
}
