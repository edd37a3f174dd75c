import Foundation
@testable import Plot
import XCTest

final class TimelinePlotTests: XCTestCase {
    private func plot(window: ClosedRange<Double>) -> TimelinePlot {
        TimelinePlot(title: "t", timeLabel: "ms",
                     rows: [.init(label: "a", group: "rank 0"), .init(label: "b", group: "rank 0"), .init(label: "a", group: "rank 1")],
                     bars: [.init(row: 0, start: 0, end: 10, kind: "step"), .init(row: 1, start: 2, end: 4, kind: "forward"),
                            .init(row: 2, start: 20, end: 30, kind: "step")],
                     kinds: [("step", "#111111"), ("forward", "#222222")], window: window)
    }

    /// A bar per interval in the window, coloured by its kind, cut at the window's edges; the
    /// document parses as XML.
    func testBarsInTheWindowAreDrawnAndCut() throws {
        let svg = plot(window: 0...15).svg()
        let document = SVGDocument(svg)
        XCTAssertNil(document.parseError)
        let bars = document.elements.filter { $0.attributes["class"] == "bar" }.count
        XCTAssertEqual(bars, 2, "the bar at 20–30 lies outside 0–15")
        XCTAssertTrue(svg.contains("fill=\"#222222\""))
        XCTAssertTrue(svg.contains(">rank 0<") && svg.contains(">rank 1<"))

        let cut = plot(window: 5...25).svg()
        // x = 190 + (t − 5)/20 · 886: the step 0–10 starts at the left edge, 20–30 ends at the right.
        XCTAssertTrue(cut.contains("class=\"bar\" x=\"190\""), cut)
        XCTAssertTrue(cut.contains("x=\"854.5\" y=") && cut.contains("width=\"221.5\""), cut)
    }
}
