import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One status line redrawn in place on a terminal (rank 0's live progress), as the text to
/// write: each `update` returns the cursor to column 0, writes the text cut to the terminal's
/// width, and clears the rest of the line. `printAbove` puts an ordinary line above it;
/// `finish` ends it with a newline. It only composes text: whoever owns the terminal writes it
/// (the executable's progress output), so this module never prints.
public struct LiveStatusLine {
    private let fixedWidth: Int?
    private let descriptor: Int32
    private var current: String?

    /// `width` nil: the width of the terminal on `descriptor`, asked again at every update
    /// (it follows resizes).
    public init(descriptor: Int32 = 1, width: Int? = nil) {
        self.descriptor = descriptor
        self.fixedWidth = width
    }

    /// Whether standard output is a terminal (isatty(1)): live line there, plain lines otherwise.
    public static var standardOutputIsTerminal: Bool { isatty(1) == 1 }

    /// The width of the terminal on `descriptor` (ioctl TIOCGWINSZ), or `fallback` (also
    /// when it reports 0 columns, as some pseudo-terminals do).
    public static func terminalWidth(descriptor: Int32 = 1, fallback: Int = 120) -> Int {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return fallback }
        return Int(size.ws_col)
    }

    /// What `update(text)` writes for a terminal `width` columns wide: "\r", the text on one
    /// line (newlines and tabs become spaces) cut to width − 1 columns with "…" when cut (the
    /// last column is left free so the terminal never wraps), then clear-to-end-of-line.
    public static func render(_ text: String, width: Int) -> String {
        let flat = String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 })
        let room = max(1, width - 1)
        let shown = flat.count <= room ? flat : String(flat.prefix(room - 1)) + "…"
        return "\r" + shown + "\u{1B}[K"
    }

    /// The text that redraws the line with `text`.
    public mutating func update(_ text: String) -> String {
        current = text
        return Self.render(text, width: fixedWidth ?? Self.terminalWidth(descriptor: descriptor))
    }

    /// The text that prints `line` as an ordinary line above the status line, then redraws it.
    public mutating func printAbove(_ line: String) -> String {
        var text = current == nil ? "" : "\r\u{1B}[K"
        text += line + "\n"
        if let current { text += update(current) }
        return text
    }

    /// The text that ends the live line with a newline (once; nothing if nothing was drawn).
    public mutating func finish() -> String {
        guard current != nil else { return "" }
        current = nil
        return "\n"
    }
}
