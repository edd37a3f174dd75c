import Foundation

/// Intervals on labelled rows against time, as a standalone SVG document: a profiler's
/// timeline (one group of rows per process, one row per thread or nesting level), each bar
/// coloured by its kind, with a legend and a time axis. Bars outside `window` are left out
/// and those crossing its edges cut there.
public struct TimelinePlot: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var label: String
        /// Rows of one group share a shaded band and the group's label.
        public var group: String
        /// A thin row (e.g. a parent's outline above its children).
        public var height: Double

        public init(label: String, group: String, height: Double = 22) {
            (self.label, self.group, self.height) = (label, group, height)
        }
    }

    public struct Bar: Sendable, Equatable {
        public var row: Int
        public var start: Double
        public var end: Double
        /// The legend entry (and colour) of the bar.
        public var kind: String
        /// Drawn inside the bar when it is wide enough.
        public var text: String

        public init(row: Int, start: Double, end: Double, kind: String, text: String = "") {
            (self.row, self.start, self.end, self.kind, self.text) = (row, start, end, kind, text)
        }

        /// What a viewer shows on hover: the text, with the kind when the text does not say it.
        var tooltip: String {
            if text.isEmpty || text == kind { return kind }
            return text.contains(kind) || kind.contains(text) ? text : "\(kind): \(text)"
        }
    }

    public var title: String
    public var subtitle: String
    public var timeLabel: String
    public var rows: [Row]
    public var bars: [Bar]
    /// Colour of each kind, in legend order.
    public var kinds: [(name: String, color: String)]
    public var window: ClosedRange<Double>
    public var width: Double

    public init(title: String, subtitle: String = "", timeLabel: String, rows: [Row], bars: [Bar],
                kinds: [(name: String, color: String)], window: ClosedRange<Double>, width: Double = 1100) {
        precondition(width >= 400, "a timeline needs at least 400 pixels")
        (self.title, self.subtitle, self.timeLabel, self.rows, self.bars, self.kinds, self.window, self.width) =
            (title, subtitle, timeLabel, rows, bars, kinds, window, width)
    }

    public static func == (a: TimelinePlot, b: TimelinePlot) -> Bool {
        a.title == b.title && a.subtitle == b.subtitle && a.timeLabel == b.timeLabel && a.rows == b.rows && a.bars == b.bars
            && a.kinds.map(\.name) == b.kinds.map(\.name) && a.kinds.map(\.color) == b.kinds.map(\.color)
            && a.window == b.window && a.width == b.width
    }

    private static let left = 190.0, right = 24.0, top = 64.0, rowGap = 3.0, groupGap = 12.0, groupHeader = 20.0

    /// The top of each row (pixels) and the page's height.
    private func rowTops() -> (tops: [Double], plotBottom: Double) {
        var tops: [Double] = [], y = Self.top
        for (index, row) in rows.enumerated() {
            if index > 0 && rows[index - 1].group != row.group { y += Self.groupGap }
            if index == 0 || rows[index - 1].group != row.group { y += Self.groupHeader }
            tops.append(y)
            y += row.height + Self.rowGap
        }
        return (tops, y)
    }

    /// The document.
    public func svg() -> String {
        let n = SVGText.number, e = SVGText.escape
        let (tops, plotBottom) = rowTops()
        let plotWidth = width - Self.left - Self.right
        let axis = Axis(covering: [window.lowerBound, window.upperBound], scale: .linear, targetTickCount: Int(plotWidth / 90))
        let span = max(window.upperBound - window.lowerBound, .leastNonzeroMagnitude)
        func x(_ t: Double) -> Double { Self.left + (min(max(t, window.lowerBound), window.upperBound) - window.lowerBound) / span * plotWidth }
        let legendTop = plotBottom + 62
        let columnWidth = max(150, Double(kinds.map(\.name.count).max() ?? 0) * 7 + 30)
        let legendColumns = max(1, Int(plotWidth / columnWidth))
        let legendRows = (kinds.count + legendColumns - 1) / legendColumns
        let height = legendTop + Double(legendRows) * 20 + 16
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(n(width))\" height=\"\(n(height))\" "
        out += "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"white\"/>\n"
        out += "<text class=\"title\" x=\"\(n(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">\(e(title))</text>\n"
        if !subtitle.isEmpty {
            out += "<text x=\"\(n(width / 2))\" y=\"46\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">\(e(subtitle))</text>\n"
        }
        // Group bands and labels.
        var index = 0
        while index < rows.count {
            var last = index
            while last + 1 < rows.count && rows[last + 1].group == rows[index].group { last += 1 }
            let bandTop = tops[index] - Self.groupHeader - 2, bandBottom = tops[last] + rows[last].height + 2
            out += "<rect class=\"group\" x=\"4\" y=\"\(n(bandTop))\" width=\"\(n(width - 8))\" height=\"\(n(bandBottom - bandTop))\" fill=\"#f4f6fa\" stroke=\"#d5dae3\"/>\n"
            out += "<text x=\"12\" y=\"\(n(bandTop + 16))\" font-size=\"13\" font-weight=\"bold\">\(e(rows[index].group))</text>\n"
            index = last + 1
        }
        for (index, row) in rows.enumerated() {
            out += "<text x=\"\(n(Self.left - 8))\" y=\"\(n(tops[index] + row.height / 2 + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#333\">\(e(row.label))</text>\n"
        }
        // Grid and time axis.
        for tick in axis.ticks where window.contains(tick) {
            let px = x(tick)
            out += "<line x1=\"\(n(px))\" y1=\"\(n(Self.top - 6))\" x2=\"\(n(px))\" y2=\"\(n(plotBottom))\" stroke=\"#c8ccd4\" stroke-width=\"0.6\"/>\n"
            out += "<text x=\"\(n(px))\" y=\"\(n(plotBottom + 16))\" text-anchor=\"middle\" font-size=\"11\">\(e(axis.label(for: tick)))</text>\n"
        }
        out += "<text x=\"\(n(Self.left + plotWidth / 2))\" y=\"\(n(plotBottom + 34))\" text-anchor=\"middle\" font-size=\"12\">\(e(timeLabel))</text>\n"
        // Bars, then the labels that fit inside theirs and that no bar drawn later (an event
        // nested in it) covers.
        let colors = Dictionary(kinds.map { ($0.name, $0.color) }, uniquingKeysWith: { first, _ in first })
        let shown = bars.indices.filter {
            bars[$0].end >= window.lowerBound && bars[$0].start <= window.upperBound && rows.indices.contains(bars[$0].row)
        }
        var labels = ""
        for (order, i) in shown.enumerated() {
            let bar = bars[i], x0 = x(bar.start), row = rows[bar.row]
            let w = max(0.6, x(bar.end) - x0)
            out += "<rect class=\"bar\" x=\"\(n(x0))\" y=\"\(n(tops[bar.row]))\" width=\"\(n(w))\" height=\"\(n(row.height))\" "
            out += "fill=\"\(colors[bar.kind] ?? "#999")\" stroke=\"white\" stroke-width=\"0.4\"><title>\(e(bar.tooltip))</title></rect>\n"
            let label = bar.text.isEmpty ? bar.kind : bar.text
            let half = Double(label.count) * 3.1 + 3, center = x0 + w / 2
            let covered = shown[(order + 1)...].contains { j in
                bars[j].row == bar.row && x(bars[j].start) < center + half && x(bars[j].end) > center - half
            }
            if 2 * half < w && row.height >= 14 && !covered {
                labels += "<text x=\"\(n(center))\" y=\"\(n(tops[bar.row] + row.height / 2 + 4))\" text-anchor=\"middle\" font-size=\"10\" fill=\"white\">\(e(label))</text>\n"
            }
        }
        out += labels
        // Legend.
        for (index, kind) in kinds.enumerated() {
            let column = index % legendColumns, line = index / legendColumns
            let lx = Self.left + Double(column) * columnWidth, ly = legendTop + Double(line) * 20
            out += "<rect x=\"\(n(lx))\" y=\"\(n(ly - 10))\" width=\"14\" height=\"12\" fill=\"\(kind.color)\"/>\n"
            out += "<text x=\"\(n(lx + 20))\" y=\"\(n(ly))\" font-size=\"12\">\(e(kind.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }
}
