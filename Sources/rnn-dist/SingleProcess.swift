import Foundation
import Training
import RunErrors

/// For the one-process subcommands (sample, diagnose): they never initialize MPI. Launched
/// under mpirun with several ranks, rank 0 alone does the work and the others return at once;
/// the rank comes from the launcher's environment, not from MPI.
enum SingleProcess {
    /// This process's rank in an mpirun job (0 outside one).
    static var launcherRank: Int {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"] {
            if let text = environment[key], let rank = Int(text) { return rank }
        }
        return 0
    }

    /// Runs `body` on rank 0 only; an error exits with docs/design.md §9's code and one line on stderr.
    static func run(_ body: () throws -> Void) {
        guard launcherRank == 0 else { return }
        do {
            try body()
        } catch {
            ExitReporter.fail(RunError.from(error).description, code: ExitStatus.code(for: error))
        }
    }
}
