/// One configuration key: its name (as in YAML and, with `--`, on the command line), what it
/// accepts, and where it goes. The single place where a value is checked, so a YAML file and a
/// flag give the same message for the same mistake.
public struct ConfigKey: Sendable {
    public let name: String
    public let help: String
    package let apply: @Sendable (inout TrainingConfig, ConfigValue) throws -> Void

    /// Every key, in the order the README's reference lists them.
    public static let all: [ConfigKey] = [
        string("data", \.data, "corpus path, or synthetic:markov / synthetic:recall[:delay=D]"),
        choice("tokenizer", \.tokenizer, ConfigChoices.tokenizer, "chars (Unicode scalars) or bytes"),
        double("validation-fraction", \.validationFraction, range: 0...0.5, "tail fraction of the corpus held out"),
        int("seq-len", \.seqLen, minimum: 1, "T, time steps per sequence"),
        optionalInt("global-batch", \.globalBatch, clears: \.batchPerRank, minimum: 1, "G, sequences per step over all ranks"),
        optionalInt("batch-per-rank", \.batchPerRank, clears: \.globalBatch, minimum: 1, "sequences per step per rank (G = B x ranks)"),
        bool("shuffle", \.shuffle, "shuffle sequences each epoch from (seed, epoch) (full BPTT)"),
        choice("bptt", \.bptt, ConfigChoices.bptt, "full: backpropagate through each whole sequence; truncated: parallel streams, h carried across chunks"),
        optionalInt("bptt-steps", \.bpttSteps, clears: \.bpttSteps, minimum: 1, "k, chunk length of truncated BPTT (default: seq-len)"),
        int("hidden", \.hidden, minimum: 1, "H, hidden units"),
        choice("init-scheme", \.initScheme, ConfigChoices.initScheme, "parameter initialization"),
        optionalInt("steps", \.steps, clears: \.epochs, minimum: 1, "optimizer steps to run"),
        optionalInt("epochs", \.epochs, clears: \.steps, minimum: 1, "epochs to run (instead of steps)"),
        choice("optimizer", \.optimizer, ConfigChoices.optimizer, "sgd, adam or adagrad"),
        double("lr", \.lr, range: Double.leastNonzeroMagnitude...10, "learning rate (> 0)"),
        double("momentum", \.momentum, range: 0...0.999_999, "SGD momentum"),
        bool("nesterov", \.nesterov, "SGD Nesterov momentum"),
        double("weight-decay", \.weightDecay, range: 0...1, "L2 weight decay (torch.optim semantics)"),
        double("beta1", \.beta1, range: 0...0.999_999, "Adam beta1"),
        double("beta2", \.beta2, range: 0...0.999_999_999, "Adam beta2"),
        double("eps", \.eps, range: Double.leastNonzeroMagnitude...1, "Adam/Adagrad epsilon"),
        choice("lr-schedule", \.lrSchedule, ConfigChoices.lrSchedule, "constant or warmup-cosine"),
        int("warmup-steps", \.warmupSteps, minimum: 0, "linear warm-up steps (warmup-cosine)"),
        double("min-lr-factor", \.minLrFactor, range: 0...1, "final lr / lr of the cosine decay"),
        choice("clip-mode", \.clipMode, ConfigChoices.clipMode, "norm (global L2), value (element-wise) or none"),
        double("clip", \.clip, range: Double.leastNonzeroMagnitude...1e12, "clipping threshold (> 0)"),
        choice("clip-scope", \.clipScope, ConfigChoices.clipScope, "global: clip the averaged gradient; local: each rank's, before the allreduce"),
        choice("on-nonfinite", \.onNonfinite, ConfigChoices.onNonfinite, "a NaN/Inf gradient: skip the step on all ranks, or stop"),
        int("seed", \.seed, minimum: 0, "seed of initialization, shuffling and synthetic data"),
        int("checksum-every", \.checksumEvery, minimum: 0, "steps between cross-rank parameter checksums (0: only at the end)"),
        double("collective-timeout", \.collectiveTimeout, range: 0...1e9, "seconds a collective may take before the job is aborted (0: never)"),
        bool("check-collectives", \.checkCollectives, "compare (step, count, operation) across ranks before every collective"),
        optionalString("init", \.initFile, "start from the parameters in this safetensors file"),
        optionalString("save", \.save, "write the final parameters to this safetensors file"),
        optionalString("checkpoint-dir", \.checkpointDir, "folder for checkpoints"),
        int("checkpoint-every", \.checkpointEvery, minimum: 0, "steps between checkpoints (0: only at the end)"),
        int("keep-checkpoints", \.keepCheckpoints, minimum: 1, "how many checkpoints to keep"),
        optionalString("resume", \.resume, "resume from a checkpoint file, or the newest valid one in a folder"),
        optionalString("metrics", \.metrics, "JSON-lines metrics file (rank 0)"),
        optionalString("tensorboard", \.tensorboard, "folder for TensorBoard event files (rank 0)"),
        int("diagnose-every", \.diagnoseEvery, minimum: 0, "steps between gradient-flow diagnostics in the metrics (0: never)"),
        int("eval-every", \.evalEvery, minimum: 0, "steps between validation evaluations (0: only at the end)"),
        optionalInt("eval-seq-len", \.evalSeqLen, clears: \.evalSeqLen, minimum: 1, "length of the validation sequences (default: seq-len); longer ones start fewer tokens from h = 0"),
        intOrAll("eval-tokens", \.evalTokens, minimum: 1, "validation tokens per evaluation, in evenly spaced sequences (all: the whole split)"),
        bool("keep-best", \.keepBest, "keep the parameters with the best validation loss as best.safetensors in checkpoint-dir"),
        int("log-every", \.logEvery, minimum: 1, "steps between progress lines"),
        bool("quiet", \.quiet, "print only errors and the final summary"),
    ]

    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }

    // MARK: key builders

    package static func int(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int> & Sendable, minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            config[keyPath: path] = try integer(name, value, minimum: minimum)
        }
    }

    package static func optionalInt(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                            clears other: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                            minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            if value == .null { config[keyPath: path] = nil; return }
            config[keyPath: path] = try integer(name, value, minimum: minimum)
            if other != path { config[keyPath: other] = nil } // two ways of saying the same thing: the last one wins
        }
    }

    /// An integer, or `all` (also null) for no limit.
    package static func intOrAll(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable, minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            config[keyPath: path] = value == .null || value == .string("all") ? nil : try integer(name, value, minimum: minimum)
        }
    }

    package static func double(_ name: String, _ path: WritableKeyPath<TrainingConfig, Double> & Sendable,
                       range: ClosedRange<Double>, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            let number: Double
            switch value {
            case .double(let x): number = x
            case .int(let x): number = Double(x)
            case .string(let text):
                guard let x = Double(text) else { throw ConfigError.wrongType(key: name, expected: "a number", got: value) }
                number = x
            default: throw ConfigError.wrongType(key: name, expected: "a number", got: value)
            }
            guard number.isFinite, range.contains(number) else {
                throw ConfigError.outOfRange(key: name, value: value, allowed: describe(range))
            }
            config[keyPath: path] = number
        }
    }

    package static func bool(_ name: String, _ path: WritableKeyPath<TrainingConfig, Bool> & Sendable, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            switch value {
            case .bool(let flag): config[keyPath: path] = flag
            case .string("true"): config[keyPath: path] = true
            case .string("false"): config[keyPath: path] = false
            default: throw ConfigError.wrongType(key: name, expected: "true or false", got: value)
            }
        }
    }

    package static func string(_ name: String, _ path: WritableKeyPath<TrainingConfig, String> & Sendable, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            guard case .string(let text) = value, !text.isEmpty else {
                throw ConfigError.wrongType(key: name, expected: "a non-empty string", got: value)
            }
            config[keyPath: path] = text
        }
    }

    package static func optionalString(_ name: String, _ path: WritableKeyPath<TrainingConfig, String?> & Sendable, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            switch value {
            case .null: config[keyPath: path] = nil
            case .string(let text) where !text.isEmpty: config[keyPath: path] = text
            default: throw ConfigError.wrongType(key: name, expected: "a path", got: value)
            }
        }
    }

    package static func choice(_ name: String, _ path: WritableKeyPath<TrainingConfig, String> & Sendable,
                       _ choices: [String], _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help) { config, value in
            guard case .string(let text) = value, choices.contains(text) else {
                throw ConfigError.notAChoice(key: name, value: value, choices: choices)
            }
            config[keyPath: path] = text
        }
    }

    private static func integer(_ name: String, _ value: ConfigValue, minimum: Int) throws -> Int {
        let number: Int
        switch value {
        case .int(let x): number = x
        case .string(let text):
            guard let x = Int(text) else { throw ConfigError.wrongType(key: name, expected: "an integer", got: value) }
            number = x
        default: throw ConfigError.wrongType(key: name, expected: "an integer", got: value)
        }
        guard number >= minimum else {
            throw ConfigError.outOfRange(key: name, value: value, allowed: minimum == 0 ? ">= 0" : ">= \(minimum)")
        }
        return number
    }

    private static func describe(_ range: ClosedRange<Double>) -> String {
        range.lowerBound == Double.leastNonzeroMagnitude ? "> 0 and <= \(range.upperBound)" : "\(range.lowerBound)...\(range.upperBound)"
    }
}
