import Foundation
import ArgumentParser

@main
struct RNNDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn-dist",
        abstract: "Distributed data-parallel training of recurrent language models over MPI.",
        discussion: """
        Launch under MPI, e.g. `mpirun -np 8 rnn-dist`. With no arguments it trains on the \
        built-in synthetic task (configs/default.yaml). Exit codes: 0 success, 1 bad input or \
        configuration, 2 a fault during the run, 3 stopped by a signal after writing a checkpoint.
        """,
        subcommands: [TrainCommand.self, EvalCommand.self, PrepareCommand.self, SampleCommand.self, DiagnoseCommand.self, BenchCommand.self, ExportCommand.self,
                      PlotCommand.self],
        defaultSubcommand: TrainCommand.self
    )

    /// Argument errors exit with docs/design.md §9's code 1 (not ArgumentParser's 64), printed once
    /// (by rank 0) rather than by every rank of the job.
    static func main() {
        BLASKernelChoice.apply()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "0"
            if rank == "0" {
                let hint = code == .validationFailure ? " (rnn-dist --help lists the options)" : ""
                StandardError.line("\(message(for: error))\(hint)")
            }
            Foundation.exit(code == .validationFailure ? 1 : code.rawValue)
        }
    }
}
