/// Several LinePlots stacked vertically in one standalone SVG document (e.g. loss, gradient
/// norm and throughput of a run on one page), with an optional page title.
public struct SVGPage: Sendable, Equatable {
    public var title: String?
    public var plots: [LinePlot]

    public init(title: String? = nil, plots: [LinePlot] = []) {
        self.title = title
        self.plots = plots
    }

    public var width: Double { plots.map(\.width).max() ?? 720 }
    public var height: Double { titleHeight + plots.reduce(0) { $0 + $1.height } }
    private var titleHeight: Double { title == nil ? 0 : 40 }

    /// The document: XML declaration, one <svg> root, each plot in its own translated group.
    public func svg() -> String {
        let n = SVGText.number
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(n(width))\" height=\"\(n(height))\" "
        out += "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"white\"/>\n"
        if let title {
            out += "<text class=\"page-title\" x=\"\(n(width / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">\(SVGText.escape(title))</text>\n"
        }
        var y = titleHeight
        for plot in plots {
            out += "<g class=\"panel\" transform=\"translate(0 \(n(y)))\">\n"
            plot.render(into: &out)
            out += "</g>\n"
            y += plot.height
        }
        out += "</svg>\n"
        return out
    }
}
