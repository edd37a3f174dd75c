import MPI
import Training
#if canImport(Glibc)
import Glibc
import RunErrors
#endif

/// Turns a failed run into DESIGN §9's exit codes with one message, from rank 0.
///
/// Training's errors are symmetric: every rank reaches the same verdict (RankAgreement, or a
/// decision taken on allreduced values), so each rank can exit on its own and rank 0 alone
/// speaks. An MPI error is not: it may strike one rank while the others wait in a
/// collective, so it aborts the whole job.
enum ExitReporter {
    static func run(world: Communicator, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as MPIError {
            fputs("rnn-dist: rank \(world.rank): \(error.description); aborting the job\n", stderr)
            world.abort(code: 2)
        } catch {
            let runError = RunError.from(error)
            var isPeerFailure = false
            if case .peerFailed = runError { isPeerFailure = true }
            if world.isRoot && !isPeerFailure {
                fputs("rnn-dist: \(runError.description)\n", stderr)
            }
            fflush(stdout)
            exit(runError.exitCode)
        }
    }
}
