import Foundation

/// One axis of a plot: the shown data interval [lower, upper] (widened to round tick values),
/// its scale and its tick values. Linear ticks are 1, 2 or 5 × 10^k apart; log ticks are
/// exact powers of ten (every `n`-th decade when there are many).
public struct Axis: Sendable, Equatable {
    public let scale: AxisScale
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]
    /// Grid values between the ticks (2…9 × 10^k on a log axis of few decades).
    public let minorTicks: [Double]
    /// The minor ticks that also get a (smaller) label: 2 and 5 × 10^k on a log axis of at
    /// most two decades, which would otherwise show only two or three numbers.
    public var labelledMinorTicks: [Double] {
        guard scale == .log10, ticks.count <= 3 else { return [] }
        return minorTicks.filter { value in
            let leading = (value / Axis.powerOfTen(Int(Foundation.log10(value).rounded(.down)))).rounded()
            return leading == 2 || leading == 5
        }
    }

    /// An axis covering `values` (the non-finite ones, and the non-positive ones on a log
    /// scale, are ignored); a default interval when nothing is left.
    public init(covering values: [Double], scale: AxisScale, targetTickCount: Int = 6) {
        self.scale = scale
        let usable = values.filter { $0.isFinite && (scale == .linear || $0 > 0) }
        switch scale {
        case .linear:
            var low = usable.min() ?? 0, high = usable.max() ?? 1
            if low == high {
                let pad = low == 0 ? 1 : abs(low) * 0.1
                low -= pad
                high += pad
            }
            let step = Axis.niceStep((high - low) / Double(max(1, targetTickCount - 1)))
            // The tolerance keeps 0.3/0.05 = 5.999…9 from adding a tick.
            let first = (low / step + 1e-9).rounded(.down), last = (high / step - 1e-9).rounded(.up)
            lower = first * step
            upper = last * step
            ticks = stride(from: first, through: last, by: 1).map { Axis.clean($0 * step, step: step) }
            minorTicks = []
        case .log10:
            let low = (Foundation.log10(usable.min() ?? 1)).rounded(.down)
            var high = (Foundation.log10(usable.max() ?? 10)).rounded(.up)
            if high - low < 1 { high = low + 1 }   // one value, or an exact power of ten
            let every = max(1, Int(((high - low) / Double(max(1, targetTickCount - 1))).rounded(.up)))
            // A whole number of tick intervals, so that the top of the axis is labelled.
            high = low + (((high - low) / Double(every)).rounded(.up)) * Double(every)
            let decades = Int(high - low)
            lower = Axis.powerOfTen(Int(low))
            upper = Axis.powerOfTen(Int(high))
            ticks = stride(from: Int(low), through: Int(high), by: every).map(Axis.powerOfTen)
            minorTicks = every == 1 && decades <= 6
                ? (Int(low)..<Int(high)).flatMap { k in (2...9).map { Double($0) * Axis.powerOfTen(k) } }
                : []
        }
    }

    /// Where `value` sits between lower (0) and upper (1); nil for a value the scale cannot
    /// show (non-finite, or ≤ 0 on a log axis).
    public func fraction(of value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch scale {
        case .linear:
            return (value - lower) / (upper - lower)
        case .log10:
            guard value > 0 else { return nil }
            return (Foundation.log10(value) - Foundation.log10(lower)) / (Foundation.log10(upper) - Foundation.log10(lower))
        }
    }

    /// The tick label: plain decimals with as many digits as the tick spacing needs, or
    /// scientific notation for very large or small values; on a log axis 0.001 … 1000 as
    /// decimals and 10⁻⁵, 10⁶ … beyond.
    public func label(for value: Double) -> String {
        switch scale {
        case .log10:
            let k = Int(Foundation.log10(value).rounded())
            if abs(value / Axis.powerOfTen(k) - 1) > 1e-9 {   // not a power of ten: 2·10^j, 5·10^j, …
                let j = Int((Foundation.log10(value) + 1e-12).rounded(.down))
                let leading = value / Axis.powerOfTen(j)
                return (-4...4).contains(j) ? String(format: "%g", value) : String(format: "%.0fe%d", leading, j)
            }
            if (-3...3).contains(k) {
                return k >= 0 ? String(format: "%.0f", value) : String(format: "%.\(-k)f", value)
            }
            return "10" + Axis.superscript(k)
        case .linear:
            let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
            let largest = max(abs(lower), abs(upper))
            if largest >= 1e6 || (step < 1e-4 && largest < 1e-2) {
                return Axis.scientific(value, step: step)
            }
            let decimals = max(0, Int((-Foundation.log10(step)).rounded(.up) + 1e-9))
            let text = String(format: "%.\(decimals)f", value)
            return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
        }
    }

    // MARK: - Helpers

    /// 1, 2, 5 or 10 × 10^k, whichever is nearest to raw (Heckbert's "nice numbers").
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let exponent = Foundation.log10(raw).rounded(.down)
        let base = Foundation.pow(10, exponent)
        let fraction = raw / base
        let multiple: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return multiple * base
    }

    /// The Double nearest to 10^k (parsed, so 1e-3 is the same Double as the literal 0.001).
    static func powerOfTen(_ k: Int) -> Double { Double("1e\(k)")! }

    /// Snaps k·step to the nearest short decimal (0.30000000000000004 → 0.3).
    private static func clean(_ value: Double, step: Double) -> Double {
        let digits = max(0, Int((-Foundation.log10(step)).rounded(.up)) + 2)
        return Double(String(format: "%.\(min(digits, 17))f", value)) ?? value
    }

    private static func superscript(_ k: Int) -> String {
        let digits: [Character] = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]
        return (k < 0 ? "⁻" : "") + String(String(abs(k)).map { digits[Int(String($0))!] })
    }

    private static func scientific(_ value: Double, step: Double) -> String {
        if value == 0 { return "0" }
        let exponent = Int(Foundation.log10(abs(value)).rounded(.down))
        let mantissa = value / Foundation.pow(10, Double(exponent))
        // Enough mantissa digits to tell neighbouring ticks apart.
        let decimals = max(0, min(6, exponent - Int(Foundation.log10(step).rounded(.down))))
        var text = String(format: "%.\(decimals)f", mantissa)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text + "e" + String(exponent)
    }
}
