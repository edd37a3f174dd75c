import Optimizers
import RNN
import TextData

/// A configuration choice: an enum whose raw values are the words a YAML file or a flag
/// uses. Parsed once, when the config is loaded; past that point code switches on cases.
/// Codable through the raw value, so a checkpoint's stored config holds the words a user
/// writes, and files stay readable whatever the enums' case names become.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable, Equatable,
    CustomStringConvertible where RawValue == String {}

extension ConfigChoice {
    /// The config word (`warmup-cosine`, not the case name), for messages and headers.
    public var description: String { rawValue }
    /// Every allowed word, in declaration order, for messages and the reference.
    public static var words: [String] { allCases.map(\.rawValue) }
}

// The choices whose types belong to the code that acts on them.
extension Tokenizer: ConfigChoice {}
extension InitializationScheme: ConfigChoice {}
extension CellKind: ConfigChoice {}
extension WeightDecayMode: ConfigChoice {}
extension DropoutMasking: ConfigChoice {}

/// Which update rule (torch.optim semantics).
public enum OptimizerKind: String, ConfigChoice {
    case sgd, adam, adagrad
}

/// The learning rate over the run.
public enum LearningRateScheduleKind: String, ConfigChoice {
    case constant
    /// Linear warm-up over warmup-steps, then cosine decay to lr x min-lr-factor.
    case warmupCosine = "warmup-cosine"
    /// lr, multiplied by plateau-factor whenever the validation loss stops improving.
    case plateau
}

/// How a gradient is clipped: by its global L2 norm, element-wise, or not at all.
public enum ClipMode: String, ConfigChoice {
    case norm, value, none
}

/// Where clipping happens: on the averaged gradient (after the allreduce, identical on every
/// rank) or on each rank's own share before it.
public enum ClipScope: String, ConfigChoice {
    case global, local
}

/// Which algorithm sums the gradient over the ranks (docs/multihost.md): auto picks two-level
/// when ranks share hosts and there are at least two hosts, else ring.
public enum AllreduceMode: String, ConfigChoice {
    case auto, ring
    case twoLevel = "two-level"
    case mpi
}

/// How the two-level allreduce crosses hosts: one ring per local rank, one ring of the hosts'
/// leaders, or whichever was faster timed at start (auto). The same bits either way.
public enum TwoLevelCrossHostMode: String, ConfigChoice {
    case auto, rings, leaders
}

/// What a NaN/Inf gradient does: skip the step on every rank, or stop the run.
public enum NonfinitePolicy: String, ConfigChoice {
    case skip, stop
}

/// Backpropagation through each whole sequence, or through chunks of parallel streams whose
/// hidden state carries across chunks.
public enum BPTTMode: String, ConfigChoice {
    case full, truncated
}
