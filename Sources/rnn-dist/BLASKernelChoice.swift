import BLASCore
import Foundation

/// Runs first in main, before MPI starts: when OpenBLAS picked a kernel older than this CPU
/// supports, re-exec this process (same pid: mpirun, srun and PMIx are unaffected) with
/// OPENBLAS_CORETYPE set to the best one, then self-check it (docs/blas.md). Every exec adds
/// a marker variable, so the chain ends; a failed exec leaves the library's kernel running.
enum BLASKernelChoice {
    static func apply() {
        for step in [BLASCoreStartup.firstStep, BLASCoreStartup.selfCheckStep] {
            if case let .reexec(change) = step(ProcessInfo.processInfo.environment) { reexec(change) }
        }
    }

    private static func reexec(_ change: EnvironmentChange) {
        let undo = change.apply()
        execv(BLASCoreStartup.executablePath, CommandLine.unsafeArgv)
        let reason = String(cString: strerror(errno))
        undo.apply()
        let core = change.set[BLASCoreVariable.coreType] ?? "the library's choice"
        setenv(BLASCoreVariable.execFailed, "\(core): \(reason)", 1)
    }
}

extension EnvironmentChange {
    /// Changes this process's environment; returns the change that undoes it.
    @discardableResult
    func apply() -> EnvironmentChange {
        let before = ProcessInfo.processInfo.environment
        var undo = EnvironmentChange()
        for name in unset + Array(set.keys) {
            if let old = before[name] { undo.set[name] = old } else { undo.unset.append(name) }
        }
        for name in unset { unsetenv(name) }
        for (name, value) in set { setenv(name, value, 1) }
        return undo
    }
}

extension BLASCoreReport {
    /// This process's report.
    static var current: BLASCoreReport { current(environment: ProcessInfo.processInfo.environment) }
}
