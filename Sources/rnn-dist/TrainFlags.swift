import ArgumentParser
import Training
import Config

/// The flags of DESIGN §9 (and a few more), each overriding the config key of the same name.
struct TrainFlags: ParsableArguments {
    @Option(help: "Corpus path, or synthetic:markov / synthetic:recall[:delay=D].") var data: String?
    @Option(help: "chars (Unicode scalars) or bytes.") var tokenizer: String?
    @Option(name: .customLong("validation-fraction"), parsing: .unconditional, help: "Tail fraction held out for validation.") var validationFraction: Double?
    @Option(parsing: .unconditional, help: "H, hidden units.") var hidden: Int?
    @Option(name: .customLong("seq-len"), parsing: .unconditional, help: "T, time steps per sequence.") var seqLen: Int?
    @Option(name: .customLong("global-batch"), parsing: .unconditional, help: "G, sequences per step over all ranks.") var globalBatch: Int?
    @Option(name: .customLong("batch-per-rank"), parsing: .unconditional, help: "Sequences per step per rank.") var batchPerRank: Int?
    @Option(help: "full or truncated backpropagation through time.") var bptt: String?
    @Option(name: .customLong("bptt-steps"), parsing: .unconditional, help: "k, chunk length of truncated BPTT (default: seq-len).") var bpttSteps: Int?
    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "Steps between validation evaluations (0: only at the end).") var evalEvery: Int?
    @Option(name: .customLong("eval-seq-len"), parsing: .unconditional, help: "Length of the validation sequences (default: seq-len).") var evalSeqLen: Int?
    @Option(name: .customLong("eval-tokens"), help: "Validation tokens per evaluation, evenly spaced sequences (all: the whole split).") var evalTokens: String?
    @Flag(inversion: .prefixedNo, help: "Keep best.safetensors (best validation loss) in the checkpoint directory.") var keepBest: Bool?
    @Option(parsing: .unconditional, help: "Optimizer steps.") var steps: Int?
    @Option(parsing: .unconditional, help: "Epochs (instead of steps).") var epochs: Int?
    @Option(help: "sgd, adam or adagrad.") var optimizer: String?
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Double?
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Double?
    @Flag(inversion: .prefixedNo, help: "SGD Nesterov momentum.") var nesterov: Bool?
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "L2 weight decay.") var weightDecay: Double?
    @Option(parsing: .unconditional, help: "Adam beta1.") var beta1: Double?
    @Option(parsing: .unconditional, help: "Adam beta2.") var beta2: Double?
    @Option(parsing: .unconditional, help: "Adam/Adagrad epsilon.") var eps: Double?
    @Option(name: .customLong("lr-schedule"), help: "constant or warmup-cosine.") var lrSchedule: String?
    @Option(name: .customLong("warmup-steps"), parsing: .unconditional, help: "Linear warm-up steps.") var warmupSteps: Int?
    @Option(name: .customLong("min-lr-factor"), parsing: .unconditional, help: "Final lr / lr of the cosine decay.") var minLrFactor: Double?
    @Option(name: .customLong("init-scheme"), help: "torch or min-char-rnn.") var initScheme: String?
    @Option(name: .customLong("clip-mode"), help: "norm, value or none.") var clipMode: String?
    @Option(parsing: .unconditional, help: "Clipping threshold.") var clip: Double?
    @Option(name: .customLong("clip-scope"), help: "global or local.") var clipScope: String?
    @Option(name: .customLong("on-nonfinite"), help: "skip or stop.") var onNonfinite: String?
    @Option(parsing: .unconditional, help: "Seed of initialization, shuffling and synthetic data.") var seed: Int?
    @Flag(inversion: .prefixedNo, help: "Shuffle sequences each epoch.") var shuffle: Bool?
    @Option(name: .customLong("checksum-every"), parsing: .unconditional, help: "Steps between cross-rank parameter checksums.") var checksumEvery: Int?
    @Option(name: .customLong("collective-timeout"), parsing: .unconditional, help: "Seconds a collective may take before the job is aborted (0: never).") var collectiveTimeout: Double?
    @Flag(inversion: .prefixedNo, help: "Compare (step, count, operation) across ranks before every collective.") var checkCollectives: Bool?
    @Option(name: .customLong("init"), help: "Start from the parameters in this safetensors file.") var initFile: String?
    @Option(help: "Write the final parameters to this safetensors file.") var save: String?
    @Option(name: .customLong("checkpoint-dir"), help: "Folder for checkpoints.") var checkpointDir: String?
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: "Steps between checkpoints.") var checkpointEvery: Int?
    @Option(name: .customLong("keep-checkpoints"), parsing: .unconditional, help: "How many checkpoints to keep.") var keepCheckpoints: Int?
    @Option(help: "Resume from a checkpoint file or the newest valid one in a folder.") var resume: String?
    @Option(help: "JSON-lines metrics file.") var metrics: String?
    @Option(help: "Folder for TensorBoard event files.") var tensorboard: String?
    @Option(name: .customLong("diagnose-every"), parsing: .unconditional, help: "Steps between gradient-flow diagnostics in the metrics (0: never).") var diagnoseEvery: Int?
    @Option(name: .customLong("log-every"), parsing: .unconditional, help: "Steps between progress lines.") var logEvery: Int?
    @Flag(help: "Print only errors and the final summary.") var quiet = false

    /// The flags given, as (config key, value) pairs, in a fixed order.
    func overrides() -> [(String, ConfigValue)] {
        var pairs: [(String, ConfigValue)] = []
        func add(_ key: String, _ value: String?) { if let value { pairs.append((key, .string(value))) } }
        func add(_ key: String, _ value: Int?) { if let value { pairs.append((key, .int(value))) } }
        func add(_ key: String, _ value: Double?) { if let value { pairs.append((key, .double(value))) } }
        func add(_ key: String, _ value: Bool?) { if let value { pairs.append((key, .bool(value))) } }
        add("data", data); add("tokenizer", tokenizer); add("validation-fraction", validationFraction)
        add("hidden", hidden); add("seq-len", seqLen); add("global-batch", globalBatch)
        add("batch-per-rank", batchPerRank); add("steps", steps); add("epochs", epochs)
        add("optimizer", optimizer); add("lr", lr); add("momentum", momentum); add("nesterov", nesterov)
        add("weight-decay", weightDecay); add("beta1", beta1); add("beta2", beta2); add("eps", eps)
        add("lr-schedule", lrSchedule); add("warmup-steps", warmupSteps); add("min-lr-factor", minLrFactor)
        add("init-scheme", initScheme); add("clip-mode", clipMode); add("clip", clip); add("clip-scope", clipScope)
        add("on-nonfinite", onNonfinite); add("seed", seed); add("shuffle", shuffle)
        add("checksum-every", checksumEvery); add("collective-timeout", collectiveTimeout)
        add("check-collectives", checkCollectives); add("init", initFile); add("save", save)
        add("checkpoint-dir", checkpointDir); add("checkpoint-every", checkpointEvery)
        add("keep-checkpoints", keepCheckpoints); add("resume", resume); add("metrics", metrics)
        add("log-every", logEvery); add("bptt", bptt); add("bptt-steps", bpttSteps)
        add("eval-every", evalEvery); add("keep-best", keepBest); add("eval-seq-len", evalSeqLen)
        add("eval-tokens", evalTokens)
        add("tensorboard", tensorboard); add("diagnose-every", diagnoseEvery)
        if quiet { pairs.append(("quiet", .bool(true))) }
        return pairs
    }
}
