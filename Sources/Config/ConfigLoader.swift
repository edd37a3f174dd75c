import Foundation
import Yams

/// Builds a TrainingConfig from defaults, an optional YAML file and flag overrides.
public enum ConfigLoader {
    /// Applies `overrides` (key, value) in order on top of `base`.
    public static func apply(_ overrides: [(String, ConfigValue)], to base: TrainingConfig, source: String) throws -> TrainingConfig {
        var config = base
        for (name, value) in overrides {
            guard let key = ConfigKey.named(name) else { throw ConfigError.unknownKey(name, source: source) }
            try key.apply(&config, value)
        }
        return config
    }

    /// The (key, value) pairs of a YAML mapping, in file order.
    public static func parseYAML(_ text: String, source: String) throws -> [(String, ConfigValue)] {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError.malformed(source: source, reason: firstLine(String(describing: error)))
        }
        guard let node else { return [] } // an empty file changes nothing
        guard let mapping = node.mapping else {
            throw ConfigError.malformed(source: source, reason: "the top level must be a mapping of key: value")
        }
        var seen = Set<String>()
        return try mapping.map { keyNode, valueNode in
            guard let key = keyNode.string else {
                throw ConfigError.malformed(source: source, reason: "a key is not a string")
            }
            guard seen.insert(key).inserted else {
                throw ConfigError.malformed(source: source, reason: "key '\(key)' appears twice")
            }
            guard ConfigKey.named(key) != nil else { throw ConfigError.unknownKey(key, source: source) }
            return (key, try scalar(valueNode, key: key))
        }
    }

    /// Reads and parses a YAML config file.
    public static func loadYAML(path: String) throws -> [(String, ConfigValue)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "no such file"
            throw ConfigError.unreadable(path: path, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError.malformed(source: path, reason: "not UTF-8 text")
        }
        return try parseYAML(text, source: path)
    }

    /// Defaults, then the file, then the flags; then the cross-key checks.
    public static func load(configPath: String?, flags: [(String, ConfigValue)]) throws -> TrainingConfig {
        var config = TrainingConfig()
        if let configPath {
            config = try apply(try loadYAML(path: configPath), to: config, source: configPath)
        }
        config = try apply(flags, to: config, source: "command-line flags")
        try validate(config)
        return config
    }

    /// Checks that involve more than one key.
    public static func validate(_ config: TrainingConfig) throws {
        if config.globalBatch == nil && config.batchPerRank == nil {
            throw ConfigError.inconsistent("set global-batch or batch-per-rank")
        }
        if config.weightDecayMode == .decoupled && config.optimizer != .adam {
            throw ConfigError.inconsistent("weight-decay-mode decoupled is AdamW: it needs optimizer adam, not \(config.optimizer)")
        }
        if (config.lrSchedule == .plateau || config.earlyStop > 0) && config.evalEvery == 0 {
            throw ConfigError.inconsistent("lr-schedule plateau and early-stop watch the validation loss: set eval-every")
        }
        if config.steps == nil && config.epochs == nil {
            throw ConfigError.inconsistent("set steps or epochs")
        }
        if config.lrSchedule == .warmupCosine, let steps = config.steps, config.warmupSteps >= steps {
            throw ConfigError.inconsistent("warmup-steps (\(config.warmupSteps)) must be below steps (\(steps))")
        }
        if config.tieWeights && config.embedding == 0 {
            throw ConfigError.inconsistent("tie-weights makes W_hy the embedding table: set embedding (to hidden, \(config.hidden))")
        }
        if config.tieWeights && config.embedding != config.hidden {
            throw ConfigError.inconsistent("tie-weights needs embedding (\(config.embedding)) equal to hidden (\(config.hidden)): "
                + "the tied table is both layer 0's input [V, E] and the output layer's W_hy [V, H]")
        }
        if config.embeddingDropout > 0 && config.embedding == 0 {
            throw ConfigError.inconsistent("embedding-dropout (\(config.embeddingDropout)) drops rows of the embedding table: set embedding")
        }
        if config.chronoDelay == 1 {
            throw ConfigError.inconsistent("chrono-delay must be 0 (off) or at least 2: its biases are log U[1, T_max − 1]")
        }
        if config.chronoDelay > 0 && config.gateBias != 0 {
            throw ConfigError.inconsistent("chrono-delay (\(config.chronoDelay)) replaces gate-bias (\(config.gateBias)): set one of them")
        }
    }

    private static func scalar(_ node: Node, key: String) throws -> ConfigValue {
        guard let scalar = node.scalar else {
            throw ConfigError.wrongType(key: key, expected: "a single value", got: .string("a list or mapping"))
        }
        // Quoted strings stay strings; plain scalars are resolved like YAML 1.2 core, which
        // has no base-60 numbers: "1:30" stays a string (Yams would read it as YAML 1.1's
        // sexagesimal 90, and traps on overflow for a long one such as "1000:0000:…:0").
        if scalar.style == .plain, !scalar.string.contains(":") {
            if scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { return .null }
            if let flag = Bool.construct(from: scalar) { return .bool(flag) }
            if let number = Int.construct(from: scalar) { return .int(number) }
            if let number = Double.construct(from: scalar) { return .double(number) }
        }
        return .string(scalar.string)
    }

    private static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map(String.init) ?? text
    }
}
