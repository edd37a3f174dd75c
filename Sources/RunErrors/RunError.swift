/// Why a run ended early, classified as docs/design.md §9's exit codes need it. Libraries only
/// classify; the executable maps each kind to its exit code (rnn-dist/ExitStatus.swift).
public enum RunError: Error, CustomStringConvertible {
    /// Bad configuration, corpus, init file or checkpoint.
    case badInput(String)
    /// Something failed while running (I/O, a lost or stalled rank, non-finite values).
    case fault(String)
    /// Stopped by SIGTERM/SIGUSR1 after writing a checkpoint.
    case preempted(String)
    /// Another rank failed with this kind of error; rank 0 reports it, this rank only ends
    /// the same way.
    case peerFailed(Kind)
    /// A failure that only this rank saw, while the others may be waiting for it in a
    /// collective (e.g. a damaged stretch of a token file that only its batch read): this rank
    /// says it and ends the whole job.
    case onThisRank(Kind, String)

    /// The classification alone. Ordered by precedence: when ranks fail differently, the
    /// job ends as the highest kind says (a preemption outranks a fault, a fault bad input).
    public enum Kind: Int, Comparable, Sendable, CaseIterable {
        case badInput, fault, preempted
        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind {
        switch self {
        case .badInput: return .badInput
        case .fault: return .fault
        case .preempted: return .preempted
        case .peerFailed(let kind), .onThisRank(let kind, _): return kind
        }
    }

    public init(_ kind: Kind, _ message: String) {
        switch kind {
        case .badInput: self = .badInput(message)
        case .fault: self = .fault(message)
        case .preempted: self = .preempted(message)
        }
    }

    public var description: String {
        switch self {
        case .badInput(let message), .fault(let message), .preempted(let message), .onThisRank(_, let message): return message
        case .peerFailed(let kind): return "another rank failed (\(kind))"
        }
    }

    /// Any error as a RunError: configuration, corpus and file-format errors are bad input.
    public static func from(_ error: Error) -> RunError {
        if let runError = error as? RunError { return runError }
        return .badInput(String(describing: error))
    }
}
