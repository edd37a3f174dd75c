import Foundation
import Reporting
#if canImport(Glibc)
import Glibc
#endif

/// Rank 0's progress on standard output: a live status line redrawn in place on a terminal
/// (LiveStatusLine composes it), plain lines in a batch log; warnings on standard error.
final class TerminalProgress: ProgressOutput {
    private var liveLine: LiveStatusLine?

    init(live: Bool = TerminalProgress.shouldUseLiveLine) {
        liveLine = live ? LiveStatusLine() : nil
    }

    var redrawsInPlace: Bool { liveLine != nil }

    func line(_ text: String) {
        write(liveLine?.printAbove(text) ?? text + "\n")
    }

    func status(_ text: String) {
        write(liveLine?.update(text) ?? text + "\n")
    }

    func warning(_ text: String) {
        fflush(stdout)
        StandardError.warning(text)
    }

    func finish() {
        if let text = liveLine?.finish() { write(text) }
    }

    private func write(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }
}
