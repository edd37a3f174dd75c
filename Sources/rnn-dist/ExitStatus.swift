import Foundation
import MPI
import RunErrors

/// docs/design.md §9's exit codes, in one place: libraries classify a failure (RunError.Kind), the
/// executable alone turns it into the process's exit status.
enum ExitStatus {
    static let success: Int32 = 0

    static func code(for kind: RunError.Kind) -> Int32 {
        switch kind {
        case .badInput: return 1   // bad configuration, corpus, init file or checkpoint
        case .fault: return 2      // a fault during the run: dead/stalled rank, I/O, non-finite values
        case .preempted: return 3  // stopped by a signal after writing the checkpoint
        }
    }

    /// Any error: an MPI error is a fault; everything else as RunError classifies it.
    static func code(for error: Error) -> Int32 {
        if error is MPIError { return code(for: .fault) }
        return code(for: RunError.from(error).kind)
    }
}

/// The one way rnn-dist speaks on standard error: "rnn-dist: TEXT", one line.
enum StandardError {
    static func line(_ text: String) {
        FileHandle.standardError.write(Data("rnn-dist: \(text)\n".utf8))
    }

    /// A warning of the one-process subcommands (e.g. a corrupt checkpoint skipped in a folder).
    static func warning(_ text: String) {
        line("warning: \(text)")
    }
}
