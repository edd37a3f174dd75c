/// One named line of a LinePlot: points (x[i], y[i]). Points with a non-finite coordinate,
/// or a non-positive one on a log axis, are skipped (the line breaks there).
public struct PlotSeries: Sendable, Equatable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    /// An SVG colour ("#1f77b4", "teal"); nil picks the next colour of the palette.
    public var color: String?
    /// Draw a small circle at each point as well as the line.
    public var markers: Bool
    /// Draw the line dashed (a second kind of curve in the same colour, or a reference line).
    public var dashed: Bool

    public init(name: String, x: [Double], y: [Double], color: String? = nil, markers: Bool = false, dashed: Bool = false) {
        precondition(x.count == y.count, "series '\(name)': \(x.count) x values but \(y.count) y values")
        self.name = name
        self.x = x
        self.y = y
        self.color = color
        self.markers = markers
        self.dashed = dashed
    }

    /// y against its index 0, 1, 2, ….
    public init(name: String, y: [Double], color: String? = nil, markers: Bool = false, dashed: Bool = false) {
        self.init(name: name, x: y.indices.map(Double.init), y: y, color: color, markers: markers, dashed: dashed)
    }
}
