import TextData

/// One configuration key: its name (as in YAML and, with `--`, on the command line), what it
/// accepts, its help, and the TrainingConfig property it sets. This table is the one
/// declaration of a key: YAML loading, the command-line flags (ConfigFlags), `rnn-dist train
/// --help`, docs/configuration.md (ConfigReference) and validation all read it, so a YAML file
/// and a flag give the same message for the same mistake.
public struct ConfigKey: Sendable {
    public let name: String
    public let help: String
    /// What the key accepts, as the reference says it: "an integer >= 1", "one of: sgd, adam, adagrad".
    public let accepts: String
    /// The placeholder of the flag's value in `--help` ("<n>", "<sgd|adam|adagrad>"); empty for
    /// a true/false key, which the command line sets with `--name` and clears with `--no-name`.
    public let valueName: String
    public var isSwitch: Bool { valueName.isEmpty }
    /// The property the key sets (the test that pairs keys and properties compares these).
    package let property: PartialKeyPath<TrainingConfig> & Sendable
    package let apply: @Sendable (inout TrainingConfig, ConfigValue) throws -> Void
    /// The key's value in a configuration, as YAML would write it.
    package let value: @Sendable (TrainingConfig) -> ConfigValue

    /// The built-in default (TrainingConfig's initial value of the property).
    public var defaultValue: ConfigValue { value(TrainingConfig()) }

    /// Every key, in the order of configs/default.yaml, `--help` and docs/configuration.md.
    public static let all: [ConfigKey] = [
        dataSource("data", \.data,
               "a text file, a token file from `rnn-dist prepare` (docs/data.md), or a built-in task: synthetic:markov[:key=value,…] (symbols=12, successors=3, seed=1, "
               + "tokens=200000, validation=0.1) or synthetic:recall[:key=value,…] (delay=8, payload=4, alphabet=8, …: "
               + "recall a symbol delay steps later, which needs memory over that distance)"),
        choice("tokenizer", \.tokenizer, "chars (Unicode scalars; the file must be UTF-8), bytes, or bpe (a token file from prepare --tokenizer FILE.json, which carries its tokenizer; eval and diagnose encode a text file with the model's)"),
        double("validation-fraction", \.validationFraction, range: 0...0.5, "tail fraction of the corpus held out for validation"),
        int("seq-len", \.seqLen, minimum: 1, "T, time steps per sequence; sequence i covers tokens [i·T, i·T+T]"),
        optionalInt("global-batch", \.globalBatch, clears: \.batchPerRank, minimum: 1,
                    "G, sequences per step over all ranks (or batch-per-rank; the last one given wins)"),
        optionalInt("batch-per-rank", \.batchPerRank, clears: \.globalBatch, minimum: 1,
                    "B, sequences per micro-batch per rank (G = B × ranks × accumulate; or global-batch)"),
        int("accumulate", \.accumulate, minimum: 1,
            "k, micro-batches per rank per step (gradient accumulation): each rank runs forward and BPTT on k slices of its share of G in turn, one allreduce per step; activation memory is that of one micro-batch"),
        bool("shuffle", \.shuffle, "a new permutation of the sequences each epoch, from (seed, epoch), the same on every rank (full BPTT)"),
        choice("bptt", \.bptt, "full: backpropagate through each whole sequence; truncated: G parallel streams, h carried across chunks"),
        optionalInt("bptt-steps", \.bpttSteps, minimum: 1, "k, chunk length of truncated BPTT (default: seq-len)"),
        choice("cell", \.cell, "rnn (tanh, DESIGN §2), lstm or gru (PyTorch's cells and gate order, DESIGN §2b)"),
        int("layers", \.layers, minimum: 1, "L, stacked recurrent layers"),
        int("hidden", \.hidden, minimum: 1, "H, hidden units of every layer"),
        int("embedding", \.embedding, minimum: 0,
            "E, width of a token embedding table [V, E] that layer 0 reads instead of the one-hot token (W_xh.0 becomes [G·H, E]); 0: one-hot input"),
        bool("tie-weights", \.tieWeights,
             "the output layer's W_hy is the embedding table (one tensor, both gradients summed); needs embedding = hidden"),
        double("embedding-dropout", \.embeddingDropout, range: 0...0.999_999,
               "p, whole rows (tokens) of the embedding table dropped for a step, the rest scaled by 1/(1−p) (AWD-LSTM's embedded_dropout); one mask per step from (seed, step, token), the same on every rank; needs embedding; none in evaluation"),
        double("dropout", \.dropout, range: 0...0.999_999,
               "p, inverted dropout on every layer's output h_t (between layers and before the output layer); masks drawn from (seed, step, sequence, layer, t); none in evaluation and sampling"),
        choice("dropout-masking", \.dropoutMasking,
               "per-step: a new mask at every t (nn.LSTM's dropout=); locked: one mask per sequence, layer and unit for all t (variational / AWD-LSTM locked dropout)"),
        double("weight-drop", \.weightDrop, range: 0...0.999_999,
               "q, DropConnect on every W_hh.l (AWD-LSTM's weight drop): each recurrent weight dropped with probability q for a whole step, the same mask on every rank; none in evaluation"),
        choice("init-scheme", \.initScheme, "torch (uniform ±1/√H, as torch.nn.RNN) or min-char-rnn (N(0, 0.01²) weights, zero biases)"),
        double("gate-bias", \.gateBias, range: -10...10,
               "b, added at initialization to b_xh.l of the gate that keeps the state, in every layer: the LSTM forget gate f (and −b to its input gate i), the GRU update gate z; the tanh RNN has no gate and is unchanged"),
        int("chrono-delay", \.chronoDelay, minimum: 0,
            "T_max, for dependencies up to T_max steps: chrono initialization (Tallec & Ollivier 2018) instead of gate-bias, in every layer: "
            + "each unit's keep-gate bias (LSTM forget gate f, GRU update gate z) is log u, u ~ U[1, T_max − 1] from the seed, the LSTM input gate's −log u, "
            + "b_hh.l of those gates 0; 0: off (gate-bias applies); the tanh RNN has no gate and is unchanged (docs/remedy.md)"),
        optionalInt("steps", \.steps, clears: \.epochs, minimum: 1, "optimizer steps to run (or epochs; the last one given wins)"),
        optionalInt("epochs", \.epochs, clears: \.steps, minimum: 1, "epochs to run (or steps)"),
        choice("optimizer", \.optimizer, "sgd, adam or adagrad, with torch.optim semantics"),
        double("lr", \.lr, range: Double.leastNonzeroMagnitude...10, "learning rate"),
        double("momentum", \.momentum, range: 0...0.999_999, "SGD momentum (dampening 0)"),
        bool("nesterov", \.nesterov, "SGD Nesterov momentum"),
        double("weight-decay", \.weightDecay, range: 0...1, "weight decay wd (torch.optim semantics; see weight-decay-mode)"),
        choice("weight-decay-mode", \.weightDecayMode,
               "l2: wd·p added to the gradient (torch's SGD, Adam, Adagrad); decoupled: p shrunk by lr·wd·p beside the update (torch's AdamW; adam only)"),
        double("beta1", \.beta1, range: 0...0.999_999, "Adam beta1"),
        double("beta2", \.beta2, range: 0...0.999_999_999, "Adam beta2"),
        double("eps", \.eps, range: Double.leastNonzeroMagnitude...1, "Adam and Adagrad epsilon"),
        double("ema", \.ema, range: 0...0.999_999_999,
               "β of an exponential moving average of the parameters, average ← average + (1 − β)(p − average) after every step; evaluation, keep-best and save use it, checkpoints carry it (0: off)"),
        choice("lr-schedule", \.lrSchedule,
               "constant; warmup-cosine: linear warm-up over warmup-steps, then cosine decay to lr × min-lr-factor at the last step; plateau: lr × plateau-factor whenever more than plateau-patience evaluations in a row bring no new best validation loss (needs eval-every)"),
        int("warmup-steps", \.warmupSteps, minimum: 0, "linear warm-up steps (warmup-cosine)"),
        double("min-lr-factor", \.minLrFactor, range: 0...1, "final lr / lr of the cosine decay"),
        double("plateau-factor", \.plateauFactor, range: 0.000_001...0.999_999, "what the plateau schedule multiplies lr by (torch's ReduceLROnPlateau factor)"),
        int("plateau-patience", \.plateauPatience, minimum: 0, "evaluations without a new best the plateau schedule waits before decaying"),
        int("early-stop", \.earlyStop, minimum: 0,
            "stop (checkpoint and save as at the end) after this many evaluations in a row without a new best validation loss (0: never; needs eval-every)"),
        choice("clip-mode", \.clipMode,
               "norm (global L2 norm over all tensors, as torch's clip_grad_norm_), value (element-wise) or none"),
        double("clip", \.clip, range: Double.leastNonzeroMagnitude...1e12, "clipping threshold"),
        choice("clip-scope", \.clipScope,
               "global: clip the averaged gradient (rank-count invariant); local: clip each rank's own mean gradient before the allreduce"),
        bool("overlap-allreduce", \.overlapAllreduce,
             "reduce each part of the gradient as soon as BPTT has finished it, while the rest still computes (the same bits as without; off with clip-scope local)"),
        choice("allreduce", \.allreduce,
               "how the gradient is summed: ring (one ring over all ranks, 2(p−1) steps), two-level (within each host through shared memory, then across hosts in 2(hosts−1) steps, then back), mpi (the MPI library's own allreduce, its sum order), or auto (two-level when ranks share hosts on 2 or more hosts, else ring); ring and two-level give the same bits with or without overlap"),
        choice("two-level-cross-host", \.twoLevelCrossHost,
               "how two-level crosses hosts: rings (one ring per local rank, each with a C-th of the bucket: least copying within a host), leaders (the hosts' first ranks gather the bucket and run one ring: one message per link and hop), or auto (time both on the gradient at start, take the faster; the header says which and the times); the same bits either way"),
        choice("on-nonfinite", \.onNonfinite, "a NaN/Inf averaged gradient: skip the step on every rank (counted), or stop (exit 2)"),
        int("seed", \.seed, minimum: 0, "seed of initialization, shuffling and synthetic data"),
        int("checksum-every", \.checksumEvery, minimum: 0, "steps between cross-rank parameter checksums (0: only at the end)"),
        double("collective-timeout", \.collectiveTimeout, range: 0...1e9,
               "seconds a collective may take before the watchdog aborts the job (0: never)"),
        bool("check-collectives", \.checkCollectives,
             "fingerprint (step, count, operation) across ranks before every collective (debugging)"),
        optionalString("init", \.initFile, "start from the parameters in this safetensors file"),
        optionalString("save", \.save, "write the final parameters to this safetensors file (the model's tensors under their DESIGN §2/§2b names, float32)"),
        optionalString("checkpoint-dir", \.checkpointDir, "folder for checkpoints (created; must be writable)"),
        int("checkpoint-every", \.checkpointEvery, minimum: 0, "steps between checkpoints (0: only at the end and on a stop signal)"),
        int("keep-checkpoints", \.keepCheckpoints, minimum: 1, "how many checkpoints to keep"),
        optionalString("resume", \.resume, "resume from a checkpoint file, or the newest valid one in a folder"),
        optionalString("metrics", \.metrics, "JSON-lines metrics file (rank 0)"),
        optionalString("tensorboard", \.tensorboard, "folder for TensorBoard event files (rank 0)"),
        optionalString("trace", \.trace,
                       "Chrome trace-event JSON timeline of every rank (forward, backward, each bucket's reduction, the allreduce wait, clipping, the optimizer, evaluation, checkpoints), written by rank 0 at the end; open it in ui.perfetto.dev or chrome://tracing (docs/observability.md)"),
        int("diagnose-every", \.diagnoseEvery, minimum: 0, "steps between gradient-survival diagnostics in the log, metrics and TensorBoard (0: never)"),
        int("eval-every", \.evalEvery, minimum: 0, "steps between validation evaluations (0: only at the end)"),
        optionalInt("eval-seq-len", \.evalSeqLen, minimum: 1,
                    "length of the validation sequences (default: seq-len); each starts from h = 0, so longer ones spend fewer tokens without context"),
        intOrAll("eval-tokens", \.evalTokens, minimum: 1, "validation tokens per evaluation, in evenly spaced sequences (all: the whole split)"),
        bool("keep-best", \.keepBest, "keep the parameters with the best validation loss as best.safetensors in checkpoint-dir"),
        int("log-every", \.logEvery, minimum: 1, "steps between progress lines"),
        bool("quiet", \.quiet, "print only errors and the final summary"),
    ]

    public static func named(_ name: String) -> ConfigKey? { all.first { $0.name == name } }

    // MARK: key builders

    package static func int(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int> & Sendable, minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "an integer \(atLeast(minimum))", valueName: "<n>", property: path,
                  apply: { config, value in config[keyPath: path] = try integer(name, value, minimum: minimum) },
                  value: { config in .int(config[keyPath: path]) })
    }

    package static func optionalInt(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                                    minimum: Int, _ help: String) -> ConfigKey {
        optionalInt(name, path, clearing: nil, minimum: minimum, help)
    }

    /// `clears`: the key that says the same thing another way (steps/epochs, global-batch/
    /// batch-per-rank); setting one unsets the other, so the last one given wins.
    package static func optionalInt(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                                    clears other: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                                    minimum: Int, _ help: String) -> ConfigKey {
        optionalInt(name, path, clearing: other, minimum: minimum, help)
    }

    private static func optionalInt(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable,
                                    clearing other: (WritableKeyPath<TrainingConfig, Int?> & Sendable)?,
                                    minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "an integer \(atLeast(minimum)), or null", valueName: "<n>", property: path,
                  apply: { config, value in
                      if value == .null { config[keyPath: path] = nil; return }
                      config[keyPath: path] = try integer(name, value, minimum: minimum)
                      if let other { config[keyPath: other] = nil }
                  },
                  value: { config in config[keyPath: path].map { .int($0) } ?? .null })
    }

    /// An integer, or `all` (also null) for no limit.
    package static func intOrAll(_ name: String, _ path: WritableKeyPath<TrainingConfig, Int?> & Sendable, minimum: Int, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "an integer \(atLeast(minimum)), or all", valueName: "<n|all>", property: path,
                  apply: { config, value in
                      config[keyPath: path] = value == .null || value == .string("all") ? nil : try integer(name, value, minimum: minimum)
                  },
                  value: { config in config[keyPath: path].map { .int($0) } ?? .string("all") })
    }

    package static func double(_ name: String, _ path: WritableKeyPath<TrainingConfig, Double> & Sendable,
                               range: ClosedRange<Double>, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "a number \(describe(range))", valueName: "<x>", property: path,
                  apply: { config, value in
                      let number: Double
                      var shown = value // a flag's text is shown as the number it is, like YAML's
                      switch value {
                      case .double(let x): number = x
                      case .int(let x): number = Double(x)
                      case .string(let text):
                          guard let x = Double(text) else { throw ConfigError.wrongType(key: name, expected: "a number", got: value) }
                          number = x
                          shown = Int(text).map { .int($0) } ?? .double(x)
                      default: throw ConfigError.wrongType(key: name, expected: "a number", got: value)
                      }
                      guard number.isFinite, range.contains(number) else {
                          throw ConfigError.outOfRange(key: name, value: shown, allowed: describe(range))
                      }
                      config[keyPath: path] = number
                  },
                  value: { config in .double(config[keyPath: path]) })
    }

    package static func bool(_ name: String, _ path: WritableKeyPath<TrainingConfig, Bool> & Sendable, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "true or false", valueName: "", property: path,
                  apply: { config, value in
                      switch value {
                      case .bool(let flag): config[keyPath: path] = flag
                      case .string("true"): config[keyPath: path] = true
                      case .string("false"): config[keyPath: path] = false
                      default: throw ConfigError.wrongType(key: name, expected: "true or false", got: value)
                      }
                  },
                  value: { config in .bool(config[keyPath: path]) })
    }

    /// The `data` setting, parsed here once: a malformed synthetic task is a mistake in the
    /// configuration, reported before anything runs, and every user gets the typed source.
    package static func dataSource(_ name: String, _ path: WritableKeyPath<TrainingConfig, DataSource> & Sendable,
                                   _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "a non-empty string", valueName: "<text>", property: path,
                  apply: { config, value in
                      guard case .string(let text) = value, !text.isEmpty else {
                          throw ConfigError.wrongType(key: name, expected: "a non-empty string", got: value)
                      }
                      config[keyPath: path] = try DataSource(parsing: text)
                  },
                  value: { config in .string(config[keyPath: path].setting) })
    }

    package static func optionalString(_ name: String, _ path: WritableKeyPath<TrainingConfig, String?> & Sendable, _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "a path, or null", valueName: "<path>", property: path,
                  apply: { config, value in
                      switch value {
                      case .null: config[keyPath: path] = nil
                      case .string(let text) where !text.isEmpty: config[keyPath: path] = text
                      default: throw ConfigError.wrongType(key: name, expected: "a path", got: value)
                      }
                  },
                  value: { config in config[keyPath: path].map { .string($0) } ?? .null })
    }

    /// A choice: the words are the raw values of the enum, so the type is the list.
    package static func choice<Choice: ConfigChoice>(_ name: String, _ path: WritableKeyPath<TrainingConfig, Choice> & Sendable,
                                                     _ help: String) -> ConfigKey {
        ConfigKey(name: name, help: help, accepts: "one of: \(Choice.words.joined(separator: ", "))",
                  valueName: "<\(Choice.words.joined(separator: "|"))>", property: path,
                  apply: { config, value in
                      guard case .string(let text) = value, let choice = Choice(rawValue: text) else {
                          throw ConfigError.notAChoice(key: name, value: value, choices: Choice.words)
                      }
                      config[keyPath: path] = choice
                  },
                  value: { config in .string(config[keyPath: path].rawValue) })
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
            throw ConfigError.outOfRange(key: name, value: .int(number), allowed: atLeast(minimum))
        }
        return number
    }

    private static func atLeast(_ minimum: Int) -> String { ">= \(minimum)" }

    private static func describe(_ range: ClosedRange<Double>) -> String {
        range.lowerBound == Double.leastNonzeroMagnitude ? "> 0 and <= \(range.upperBound)" : "\(range.lowerBound)...\(range.upperBound)"
    }
}
