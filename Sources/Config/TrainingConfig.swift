import Optimizers
import RNN
import TextData

/// Everything a training run is configured by: built-in defaults (the same as
/// configs/default.yaml), then a YAML file, then command-line flags. Each property here is
/// the storage and the default of exactly one entry of `ConfigKey.all`, which declares
/// everything else about it (name, help, accepted values); a test checks the pairing.
public struct TrainingConfig: Codable, Equatable, Sendable {
    // Data
    public var data = DataSource.synthetic(SyntheticTask(.markov), setting: "synthetic:markov")
    public var tokenizer = Tokenizer.chars
    public var validationFraction = 0.1
    public var seqLen = 32
    public var globalBatch: Int? = 64
    public var batchPerRank: Int? = nil
    public var accumulate = 1
    public var shuffle = true
    public var bptt = BPTTMode.full
    public var bpttSteps: Int? = nil
    // Model
    public var cell = CellKind.rnn
    public var layers = 1
    public var hidden = 64
    /// E of the embedding table; 0: one-hot input (the model before the key).
    public var embedding = 0
    public var tieWeights = false
    public var embeddingDropout = 0.0
    public var dropout = 0.0
    public var dropoutMasking = DropoutMasking.perStep
    public var weightDrop = 0.0
    public var initScheme = InitializationScheme.torch
    public var gateBias = 0.0
    /// T_max of the chrono initialization; 0: off, gate-bias applies (the initialization before the key).
    public var chronoDelay = 0
    // Length of the run
    public var steps: Int? = 300
    public var epochs: Int? = nil
    // Optimizer
    public var optimizer = OptimizerKind.adam
    public var lr = 0.003
    public var momentum = 0.9
    public var nesterov = false
    public var weightDecay = 0.0
    public var weightDecayMode = WeightDecayMode.l2
    public var ema = 0.0
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var eps = 1e-8
    public var lrSchedule = LearningRateScheduleKind.constant
    public var warmupSteps = 0
    public var minLrFactor = 0.1
    public var plateauFactor = 0.5
    public var plateauPatience = 2
    public var earlyStop = 0
    // Gradients
    public var clipMode = ClipMode.norm
    public var clip = 5.0
    public var clipScope = ClipScope.global
    public var overlapAllreduce = true
    public var allreduce = AllreduceMode.auto
    public var twoLevelCrossHost = TwoLevelCrossHostMode.auto
    public var onNonfinite = NonfinitePolicy.skip
    // Reproducibility and safety
    public var seed = 1234
    public var checksumEvery = 100
    public var collectiveTimeout = 300.0
    public var checkCollectives = false
    // Files
    public var initFile: String? = nil
    public var save: String? = nil
    public var checkpointDir: String? = nil
    public var checkpointEvery = 0
    public var keepCheckpoints = 3
    public var resume: String? = nil
    public var metrics: String? = nil
    public var tensorboard: String? = nil
    /// The timeline file (Chrome trace-event JSON); nil: no timeline is recorded.
    public var trace: String? = nil
    public var diagnoseEvery = 0
    public var evalEvery = 0
    public var evalSeqLen: Int? = nil
    /// Validation tokens per evaluation (evenly spaced sequences); nil: the whole split.
    public var evalTokens: Int? = 262_144
    public var keepBest = false
    // Output
    public var logEvery = 50
    public var quiet = false

    public init() {}
}

extension TrainingConfig {
    /// E, or nil for one-hot input.
    public var embeddingSize: Int? { embedding > 0 ? embedding : nil }

    /// How the gate biases start (gate-bias or chrono-delay; ConfigLoader.validate refuses both).
    public var gateInitialization: GateInitialization {
        chronoDelay > 0 ? .chrono(maxDelay: chronoDelay) : .shift(gateBias)
    }
}
