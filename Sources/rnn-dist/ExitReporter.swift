import Foundation
import MPI
import RunErrors
#if canImport(Glibc)
import Glibc
#endif

/// Runs an MPI subcommand and turns a failure into docs/design.md §9's exit codes with one message,
/// from rank 0.
///
/// Training's errors are symmetric: every rank reaches the same verdict (RankAgreement, or a
/// decision taken on allreduced values), so each rank can exit on its own and rank 0 alone
/// speaks. An MPI error is not, nor a RunError.onThisRank: it may strike one rank while the
/// others wait in a collective, so that rank speaks and aborts the whole job.
enum ExitReporter {
    static func run(_ body: (Communicator) throws -> Void) {
        Bootstrap.installActions()
        let world: Communicator
        do {
            world = try Communicator.world
        } catch {
            fail("cannot start MPI: \(error)", code: ExitStatus.code(for: error))
        }
        do {
            try body(world)
        } catch let error as MPIError {
            StandardError.line("rank \(world.rank): \(error.description); aborting the job")
            world.abort(code: ExitStatus.code(for: error))
        } catch RunError.onThisRank(let kind, let message) {
            StandardError.line(world.size > 1 ? "rank \(world.rank): \(message)" : message)
            fflush(stdout)
            if world.size > 1 { world.abort(code: ExitStatus.code(for: kind)) }
            exit(ExitStatus.code(for: kind))
        } catch {
            let runError = RunError.from(error)
            var isPeerFailure = false
            if case .peerFailed = runError { isPeerFailure = true }
            if world.isRoot && !isPeerFailure {
                StandardError.line(runError.description)
            }
            fflush(stdout)
            exit(ExitStatus.code(for: runError.kind))
        }
    }

    /// One line on standard error and the exit code.
    static func fail(_ message: String, code: Int32) -> Never {
        fflush(stdout)
        StandardError.line(message)
        exit(code)
    }
}
