#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation
import Plot
import XCTest

/// Collects the elements of an SVG document and checks that it parses as XML.
final class SVGDocument: NSObject, XMLParserDelegate {
    struct Element {
        let name: String
        let attributes: [String: String]
        var text = ""
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []
    private(set) var parseError: Error?

    init(_ svg: String) {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        if !parser.parse() { parseError = parser.parserError ?? NSError(domain: "SVG", code: 1) }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        open.append(elements.count)
        elements.append(Element(name: name, attributes: attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let index = open.last { elements[index].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, parseErrorOccurred error: Error) { parseError = error }

    /// No attribute value holds "nan" or "inf" (what a non-finite coordinate prints as).
    var hasOnlyFiniteCoordinates: Bool {
        elements.allSatisfy { $0.attributes.values.allSatisfy { !$0.lowercased().contains("nan") && !$0.contains("inf") } }
    }

    var texts: [String] { elements.filter { $0.name == "text" }.map(\.text) }

    /// The vertices of every path, per path, from "M x,y Lx,y …" data.
    var paths: [[(x: Double, y: Double)]] {
        elements.filter { $0.name == "path" }.map { element in
            let d = element.attributes["d"] ?? ""
            return d.split(whereSeparator: { $0 == "M" || $0 == "L" || $0 == " " }).compactMap { pair in
                let parts = pair.split(separator: ",").compactMap { Double($0) }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }
        }
    }
}

final class LinePlotTests: XCTestCase {
    private func gradientPlot() -> LinePlot {
        var plot = LinePlot(title: "Gradient flow <run 7> & co", xLabel: "distance from the loss (steps)",
                            yLabel: "mean ‖dh‖", yScale: .log10)
        plot.add(PlotSeries(name: "vanishing", y: (0..<30).map { 0.02 * pow(0.8, Double($0)) }))
        plot.add(PlotSeries(name: "exploding", y: (0..<30).map { 1e-3 * pow(1.3, Double($0)) }))
        return plot
    }

    func testWellFormedAndContainsTitleAndLabels() {
        let svg = gradientPlot().svg()
        let document = SVGDocument(svg)
        XCTAssertNil(document.parseError, "\(String(describing: document.parseError))")
        XCTAssertEqual(document.elements.first?.name, "svg")
        XCTAssertEqual(document.elements.first?.attributes["xmlns"], "http://www.w3.org/2000/svg")
        XCTAssertTrue(document.texts.contains("Gradient flow <run 7> & co"), "the title, escaped in the source")
        XCTAssertTrue(svg.contains("&lt;run 7&gt; &amp; co"))
        XCTAssertTrue(document.texts.contains("distance from the loss (steps)"))
        XCTAssertTrue(document.texts.contains("mean ‖dh‖ (log scale)"))
        XCTAssertTrue(document.texts.contains("vanishing") && document.texts.contains("exploding"), "legend")
        XCTAssertEqual(document.paths.count, 2)
    }

    func testLogTicksArePowersOfTen() {
        let layout = gradientPlot().layout()
        let ticks = layout.yAxis.ticks
        XCTAssertGreaterThanOrEqual(ticks.count, 3)
        for tick in ticks {
            let exponent = log10(tick).rounded()
            XCTAssertEqual(tick, Double("1e\(Int(exponent))")!, "tick \(tick) is not a power of ten")
        }
        // The data (2e-2 · 0.8^29 ≈ 3e-5 … 1e-3 · 1.3^29 ≈ 2.0) lies inside [1e-5, 10].
        XCTAssertEqual(layout.yAxis.lower, 1e-5)
        XCTAssertEqual(layout.yAxis.upper, 10)
        XCTAssertEqual(layout.yAxis.label(for: 1e-5), "10⁻⁵")
        XCTAssertEqual(layout.yAxis.label(for: 0.01), "0.01")
        XCTAssertEqual(layout.yAxis.label(for: 1000), "1000")
        // Many decades: every other decade, still powers of ten.
        let wide = Axis(covering: [1e-12, 1e6], scale: .log10, targetTickCount: 6)
        XCTAssertEqual(wide.ticks.first, 1e-12)
        XCTAssertLessThanOrEqual(wide.ticks.count, 7)
        for tick in wide.ticks { XCTAssertEqual(log10(tick), log10(tick).rounded(), accuracy: 1e-12) }
        XCTAssertEqual(wide.labelledMinorTicks, [])
        // One decade: the ticks stay powers of ten; 2 and 5 get small labels in between.
        let narrow = Axis(covering: [0.12, 0.9], scale: .log10)
        XCTAssertEqual(narrow.ticks, [0.1, 1])
        XCTAssertEqual(narrow.labelledMinorTicks.map(narrow.label), ["0.2", "0.5"])
        XCTAssertEqual(Axis(covering: [2e-7, 9e-7], scale: .log10).labelledMinorTicks.map(Axis(covering: [2e-7], scale: .log10).label),
                       ["2e-7", "5e-7"])
    }

    func testLinearTicksAreRoundNumbers() {
        let axis = Axis(covering: [0.13, 2.87], scale: .linear, targetTickCount: 6)
        XCTAssertEqual(axis.ticks, [0, 0.5, 1, 1.5, 2, 2.5, 3])
        XCTAssertEqual(axis.ticks.map(axis.label), ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"])
        let tokens = Axis(covering: [0, 4_300_000], scale: .linear, targetTickCount: 5)
        XCTAssertEqual(tokens.ticks, [0, 1e6, 2e6, 3e6, 4e6, 5e6])
        XCTAssertEqual(tokens.label(for: 2e6), "2e6")
        let small = Axis(covering: [0.1, 0.3], scale: .linear, targetTickCount: 5)
        XCTAssertEqual(small.ticks, [0.1, 0.15, 0.2, 0.25, 0.3])
        XCTAssertEqual(small.label(for: 0.15), "0.15")
        let single = Axis(covering: [5, 5], scale: .linear)
        XCTAssertLessThan(single.lower, 5)
        XCTAssertGreaterThan(single.upper, 5)
    }

    func testCoordinatesMapMonotonically() {
        var plot = LinePlot(title: "t", xLabel: "x", yLabel: "y")
        plot.add(PlotSeries(name: "rising", x: (0..<20).map { Double($0) * 0.37 }, y: (0..<20).map { Double($0 * $0) - 3 }))
        let document = SVGDocument(plot.svg())
        XCTAssertNil(document.parseError)
        let points = try! XCTUnwrap(document.paths.first)
        XCTAssertEqual(points.count, 20)
        let layout = plot.layout()
        for i in 1..<points.count {
            XCTAssertGreaterThan(points[i].x, points[i - 1].x, "x grows to the right")
            XCTAssertLessThan(points[i].y, points[i - 1].y, "larger y is higher up (smaller pixel y)")
        }
        for p in points {   // inside the plotting area
            XCTAssertGreaterThanOrEqual(p.x, layout.left - 0.01)
            XCTAssertLessThanOrEqual(p.x, layout.left + layout.plotWidth + 0.01)
            XCTAssertGreaterThanOrEqual(p.y, layout.top - 0.01)
            XCTAssertLessThanOrEqual(p.y, layout.top + layout.plotHeight + 0.01)
        }
        // Log scale: equal ratios are equal distances.
        let log = gradientPlot().layout()
        let a = log.position(x: 0, y: 1e-4)!, b = log.position(x: 0, y: 1e-3)!, c = log.position(x: 0, y: 1e-2)!
        XCTAssertEqual(a.y - b.y, b.y - c.y, accuracy: 1e-9)
        XCTAssertGreaterThan(a.y, b.y)
    }

    func testSkipsNonFiniteAndNonPositivePointsAndSaysSo() {
        var plot = LinePlot(title: "gaps", xLabel: "step", yLabel: "norm", yScale: .log10)
        plot.add(PlotSeries(name: "with gaps", y: [1, 2, .nan, 4, 8, 0, -1, 16, .infinity, 32, 64]))
        let layout = plot.layout()
        XCTAssertEqual(layout.skippedNonFinite, 2)
        XCTAssertEqual(layout.skippedNonPositive, 2)
        XCTAssertEqual(layout.pointCount, 7)
        XCTAssertNil(layout.position(x: 5, y: 0))
        let document = SVGDocument(plot.svg())
        XCTAssertNil(document.parseError)
        // Segments [1,2] [4,8] [16] [32,64]: three polyline pieces in one path, one dot.
        XCTAssertEqual(document.paths.first?.count, 6)
        XCTAssertEqual(document.elements.filter { $0.name == "circle" }.count, 1)
        XCTAssertTrue(document.texts.contains("2 points with NaN or infinite values not shown"))
        XCTAssertTrue(document.texts.contains("2 points with values ≤ 0 not shown (log scale)"))
        XCTAssertTrue(document.hasOnlyFiniteCoordinates)
    }

    func testEmptyAndAllInvalidSeriesStillRender() {
        for series in [[], [PlotSeries(name: "bad", y: [.nan, -.infinity])], [PlotSeries(name: "zeros", y: [0, 0])]] {
            let plot = LinePlot(title: "empty", xLabel: "x", yLabel: "y", yScale: .log10, series: series)
            let svg = plot.svg()
            let document = SVGDocument(svg)
            XCTAssertNil(document.parseError)
            XCTAssertTrue(document.texts.contains("no data"))
            XCTAssertTrue(document.hasOnlyFiniteCoordinates)
        }
    }

    func testPageStacksPanels() {
        var loss = LinePlot(title: "Loss", xLabel: "tokens", yLabel: "loss", height: 300)
        loss.add(PlotSeries(name: "train", x: [0, 1e5, 2e5, 3e5], y: [4.2, 3.1, 2.6, 2.4]))
        loss.add(PlotSeries(name: "validation", x: [0, 1.5e5, 3e5], y: [4.2, 2.9, 2.6], markers: true))
        let page = SVGPage(title: "Run summary", plots: [loss, gradientPlot()])
        XCTAssertEqual(page.height, 40 + 300 + 420)
        let document = SVGDocument(page.svg())
        XCTAssertNil(document.parseError)
        XCTAssertEqual(document.elements.filter { $0.name == "svg" }.count, 1)
        let panels = document.elements.filter { $0.attributes["class"] == "panel" }
        XCTAssertEqual(panels.map { $0.attributes["transform"] }, ["translate(0 40)", "translate(0 340)"])
        XCTAssertTrue(document.texts.contains("Run summary"))
        XCTAssertTrue(document.texts.contains("Loss") && document.texts.contains("validation"))
        XCTAssertEqual(document.elements.filter { $0.name == "circle" }.count, 3, "markers of the validation series")
    }
}
