import ArgumentParser
import Config

/// Every config key as a flag of the same name (`--seq-len 64`, `--shuffle`/`--no-shuffle`).
/// ArgumentParser cannot declare options at run time, so it hands over every argument that
/// is not `train`'s own and Config's key table parses them (ConfigFlags); `--help` lists
/// the keys from the same table.
struct TrainFlags: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    /// The flags given, as (config key, value) pairs, in command-line order.
    func overrides() throws -> [(String, ConfigValue)] { try ConfigFlags.parse(arguments) }

    /// The key list that `rnn-dist train --help` shows.
    static var help: String {
        "Config keys, as flags (each overrides --config):\n\n" + ConfigReference.flagHelp()
    }
}
