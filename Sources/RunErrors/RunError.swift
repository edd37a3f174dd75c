/// Why a run ended early, with the exit code DESIGN §9 gives it.
public enum RunError: Error, CustomStringConvertible {
    /// Bad configuration, corpus, init file or checkpoint: exit 1.
    case badInput(String)
    /// Something failed while running (I/O, a lost or stalled rank, non-finite values): exit 2.
    case fault(String)
    /// Stopped by SIGTERM/SIGUSR1 after writing a checkpoint: exit 3.
    case preempted(String)
    /// Another rank failed and rank 0 reports it; this rank only exits with the same code.
    case peerFailed(code: Int32)

    public var exitCode: Int32 {
        switch self {
        case .badInput: return 1
        case .fault: return 2
        case .preempted: return 3
        case .peerFailed(let code): return code
        }
    }

    public var description: String {
        switch self {
        case .badInput(let message), .fault(let message), .preempted(let message): return message
        case .peerFailed(let code): return "another rank failed (exit \(code))"
        }
    }

    /// Any error as a RunError: configuration, corpus and file-format errors are bad input.
    public static func from(_ error: Error) -> RunError {
        if let runError = error as? RunError { return runError }
        return .badInput(String(describing: error))
    }
}
