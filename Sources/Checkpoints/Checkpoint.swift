import Buffers
import Config
import RNN
import Optimizers
import Safetensors
import TextData

/// A training checkpoint (docs/design.md §7): the parameters under their §2/§2b names, the optimizer
/// state as `adam.m.W_xh`, `sgd.momentum.W_hh`, …, and the metadata with a checksum of the
/// data section. Any safetensors reader opens it; `--init` takes its parameters too.
public struct Checkpoint {
    public var metadata: CheckpointMetadata
    public var file: SafetensorsFile
    public let path: String

    /// The file for the current state of a run (`average`: the parameters' moving average, as `ema.W_xh`, …).
    public static func make(metadata: CheckpointMetadata, parameters: Buffer<Float>, layout: ModelLayout,
                            optimizer: Optimizer, average: Buffer<Float>? = nil) -> SafetensorsFile {
        var tensors = ParameterFile.tensors(parameters, layout: layout)
        if let average {
            tensors.merge(ParameterFile.tensors(average, layout: layout, prefix: ExponentialMovingAverage.prefix + ".")) { $1 }
        }
        for state in optimizer.stateTensors {
            tensors.merge(ParameterFile.tensors(state.buffer, layout: layout, prefix: state.prefix + ".")) { $1 }
        }
        var file = SafetensorsFile(tensors: tensors, metadata: metadata.strings)
        file.metadata["data_checksum"] = file.dataChecksum()
        return file
    }

    /// Reads and verifies a checkpoint file: format, metadata and data checksum.
    public static func read(path: String) throws -> Checkpoint {
        try verified(try SafetensorsFile.read(path: path), path: path)
    }

    /// A checkpoint from an already parsed file, after the same checks as `read`.
    public static func verified(_ file: SafetensorsFile, path: String) throws -> Checkpoint {
        let metadata = try CheckpointMetadata(strings: file.metadata, source: path)
        guard let stored = file.metadata["data_checksum"] else {
            throw CheckpointError.invalid(path: path, reason: "metadata has no 'data_checksum'")
        }
        let computed = file.dataChecksum()
        guard stored == computed else {
            throw CheckpointError.checksumMismatch(path: path, stored: stored, computed: computed)
        }
        return Checkpoint(metadata: metadata, file: file, path: path)
    }

    /// Checks that this checkpoint fits the run about to continue from it.
    public func verifyCompatible(architecture: ModelArchitecture, vocabulary: Vocabulary, optimizer: OptimizerKind) throws {
        let stored = metadata.architecture
        if stored.hiddenSize != architecture.hiddenSize {
            throw CheckpointError.mismatch(path: path, what: "hidden size H", checkpoint: String(stored.hiddenSize),
                                           config: String(architecture.hiddenSize))
        }
        if stored.cell != architecture.cell {
            throw CheckpointError.mismatch(path: path, what: "the cell", checkpoint: stored.cell.rawValue, config: architecture.cell.rawValue)
        }
        if stored.layers != architecture.layers {
            throw CheckpointError.mismatch(path: path, what: "the layer count L", checkpoint: String(stored.layers),
                                           config: String(architecture.layers))
        }
        if stored.embeddingSize != architecture.embeddingSize {
            func describe(_ E: Int?) -> String { E.map { "E=\($0)" } ?? "none (one-hot input)" }
            throw CheckpointError.mismatch(path: path, what: "the embedding", checkpoint: describe(stored.embeddingSize),
                                           config: describe(architecture.embeddingSize))
        }
        if stored.tiedWeights != architecture.tiedWeights {
            throw CheckpointError.mismatch(path: path, what: "tie-weights", checkpoint: String(stored.tiedWeights),
                                           config: String(architecture.tiedWeights))
        }
        if metadata.vocabulary != vocabulary {
            throw CheckpointError.mismatch(path: path, what: "the vocabulary",
                                           checkpoint: "\(metadata.vocabulary.count) symbols (\(metadata.vocabulary.tokenizer.rawValue))",
                                           config: "\(vocabulary.count) symbols (\(vocabulary.tokenizer.rawValue)) from the corpus")
        }
        if metadata.optimizer != optimizer {
            throw CheckpointError.mismatch(path: path, what: "the optimizer", checkpoint: metadata.optimizer.rawValue, config: optimizer.rawValue)
        }
    }

    /// Whether the file carries a moving average of the parameters (`ema.*`).
    public var hasAverage: Bool { file.tensors.keys.contains { $0.hasPrefix(ExponentialMovingAverage.prefix + ".") } }

    /// Copies the parameters and the optimizer state into the run's buffers, and the moving
    /// average into `average` when the file has one.
    public func restore(parameters: Buffer<Float>, layout: ModelLayout, optimizer: Optimizer, average: Buffer<Float>? = nil) throws {
        try ParameterFile.copy(from: file, source: path, layout: layout, into: parameters)
        if let average, hasAverage {
            try ParameterFile.copy(from: file, source: path, prefix: ExponentialMovingAverage.prefix + ".", layout: layout,
                                   into: average)
        }
        for state in optimizer.stateTensors {
            try ParameterFile.copy(from: file, source: path, prefix: state.prefix + ".", layout: layout, into: state.buffer)
        }
        optimizer.stepCount = metadata.optimizerStepCount
    }
}
