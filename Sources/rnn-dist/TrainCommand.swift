import ArgumentParser
import BLAS
import Config
import Distributed
import MPI
import RNN
import RunErrors
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a recurrent language model: tanh RNN, LSTM or GRU (the default subcommand).",
        usage: "rnn-dist [train] [--config <file>] [--<key> <value> | --<key>=<value> | --[no-]<switch>]...",
        discussion: "Flags override the --config file, which overrides the built-in defaults (configs/default.yaml).\n\n"
            + TrainFlags.help
    )

    @Option(help: "YAML config file (see configs/).") var config: String?
    @OptionGroup var flags: TrainFlags
    @OptionGroup var debug: DebugFlags
    @Flag(name: .customLong("print-config-reference"), help: .hidden) var printConfigReference = false
    /// The configuration these flags resolve to, as one JSON line under the key table's names
    /// (a checkpoint's record), without starting MPI: what Launch/elastic.sh reads the global
    /// batch, accumulation and checkpoint folder from before it launches anything.
    @Flag(name: .customLong("print-config"), help: .hidden) var printConfig = false

    func run() throws {
        if printConfigReference { return print(ConfigReference.markdown, terminator: "") }
        if printConfig {
            do {
                let resolved = try ConfigLoader.load(configPath: config, flags: try flags.overrides())
                return print(ConfigRecord.json(resolved))
            } catch {
                ExitReporter.fail(RunError.from(error).description, code: ExitStatus.code(for: error))
            }
        }
        // Before MPI starts: a batch system's USR1/TERM during start-up must not kill the rank.
        StopSignal.install()
        ExitReporter.run { world in
            let trainingConfig = try ConfigLoader.load(configPath: config, flags: try flags.overrides())
            // A bad RNN_DIST_KERNEL is bad input, not ignored.
            let kernels = ComputeKernels(recurrence: try KernelSelection.Request.fromEnvironment(), blas: .current)
            BLAS.threadCount = BLASThreads.perRank(ranks: world.size)
            let output = TerminalProgress()
            let trainer = Trainer(config: trainingConfig, world: world, output: output, hooks: debug.hooks(), kernels: kernels)
            let summary = try trainer.run()
            if world.isRoot {
                print(SummaryText.describe(summary, config: trainingConfig, ranks: world.size))
            }
        }
    }
}
