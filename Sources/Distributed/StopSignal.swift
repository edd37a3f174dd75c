#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGUSR1 (what batch systems send before they kill a job) only set a flag;
/// the trainer looks at it at the next step boundary, where all ranks agree to stop,
/// checkpoint and exit with code 3.
public enum StopSignal {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    /// Installs the handlers (once per process).
    public static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in StopSignal.received = sig_atomic_t(signal) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGUSR1, &action, nil)
    }

    /// The signal number received so far, or 0.
    public static var pending: Int32 { Int32(received) }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}
