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
        subcommands: [TrainCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self
    )
}
