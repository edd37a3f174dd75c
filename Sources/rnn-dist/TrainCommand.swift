import ArgumentParser
import BLAS
import MPI
import Training
import Config
import Distributed

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a tanh RNN language model (the default subcommand).",
        usage: "rnn-dist [train] [--config <file>] [--<key> <value> | --<key>=<value> | --[no-]<switch>]...",
        discussion: "Flags override the --config file, which overrides the built-in defaults (configs/default.yaml).\n\n"
            + TrainFlags.help
    )

    @Option(help: "YAML config file (see configs/).") var config: String?
    @OptionGroup var flags: TrainFlags
    @Option(name: .customLong("debug-perturb-rank"), help: .hidden) var debugPerturbRank: Int?
    @Option(name: .customLong("debug-trace-shards"), help: .hidden) var debugTraceShards: String?
    @Option(name: .customLong("debug-pid-dir"), help: .hidden) var debugPidDirectory: String?
    @Option(name: .customLong("debug-nan-at-step"), help: .hidden) var debugNanAtStep: Int?
    @Option(name: .customLong("debug-step-delay"), help: .hidden) var debugStepDelay: Double?
    @Option(name: .customLong("debug-mismatch-rank"), help: .hidden) var debugMismatchRank: Int?
    @Flag(name: .customLong("print-config-reference"), help: .hidden) var printConfigReference = false

    func run() throws {
        if printConfigReference { return print(ConfigReference.markdown, terminator: "") }
        // Before MPI starts: a batch system's USR1/TERM during start-up must not kill the rank.
        StopSignal.install()
        let world = Communicator.world
        try ExitReporter.run(world: world) {
            let trainingConfig = try ConfigLoader.load(configPath: config, flags: try flags.overrides())
            BLAS.threadCount = BLASThreads.perRank(ranks: world.size)
            let debug = TrainingDebugOptions(perturbRank: debugPerturbRank, traceShardsDirectory: debugTraceShards,
                                             pidDirectory: debugPidDirectory, nanAtStep: debugNanAtStep,
                                             stepDelay: debugStepDelay, mismatchRank: debugMismatchRank)
            let summary = try Trainer(config: trainingConfig, world: world, debug: debug).run()
            if world.isRoot {
                print(SummaryText.describe(summary, config: trainingConfig, ranks: world.size))
            }
        }
    }
}
