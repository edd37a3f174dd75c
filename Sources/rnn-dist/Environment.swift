import Foundation
import RNN
import Reporting
import Training

// The environment variables that choose how the libraries run, each read here, once, into the
// value the libraries take: no library reads the environment.

extension RecurrenceKernel {
    /// RNN_DIST_KERNEL's kernel (avx512, avx2-onepass, blas, …), or the best this CPU supports
    /// by its instruction set when it is unset or empty; a bad value throws (bad input, not ignored).
    static func fromEnvironment() throws -> RecurrenceKernel {
        try choose(forced: ProcessInfo.processInfo.environment[environmentVariable])
    }
}

extension KernelSelection.Request {
    /// RNN_DIST_KERNEL's kernel, forced; unset or empty, the run measures (KernelSelection).
    static func fromEnvironment() throws -> KernelSelection.Request {
        let value = ProcessInfo.processInfo.environment[RecurrenceKernel.environmentVariable] ?? ""
        return value.isEmpty ? .measure : .forced(try RecurrenceKernel.choose(forced: value))
    }
}

extension TerminalProgress {
    /// Whether rank 0 should redraw a live status line. Under mpirun a rank's stdout is a
    /// pseudo-terminal even when mpirun's own output goes to a file, so isatty cannot tell:
    /// RNN_DIST_PROGRESS=live|plain decides (Launch/local.sh sets it from its own terminal),
    /// and without it the line is live only for a process started directly on a terminal.
    static var shouldUseLiveLine: Bool {
        let environment = ProcessInfo.processInfo.environment
        switch environment["RNN_DIST_PROGRESS"] {
        case "live": return true
        case "plain": return false
        default: return LiveStatusLine.standardOutputIsTerminal && environment["OMPI_COMM_WORLD_SIZE"] == nil
        }
    }
}
