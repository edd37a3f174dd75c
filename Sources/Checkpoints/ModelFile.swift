import Buffers
import Foundation
import Optimizers
import RNN
import Config
import Safetensors
import TextData
import RunErrors

/// A trained model read from disk for `rnn-dist sample` and `rnn-dist diagnose`: either a
/// training checkpoint (format "rnn-dist-checkpoint", checksum verified) or a parameters file
/// written by `--save` (the tensors plus "vocabulary" metadata). Cell, L, H and V come from the
/// tensor names and shapes and are checked against each other and against the vocabulary.
public struct ModelFile {
    public enum Kind: String, Sendable {
        /// A training checkpoint (`--checkpoint-dir`), verified by its data checksum.
        case checkpoint
        /// A parameters file (`--save`, or made elsewhere with "vocabulary" metadata).
        case parameters
    }

    /// The file actually read (for a checkpoint folder: its newest valid checkpoint).
    public let path: String
    public let kind: Kind
    public let architecture: ModelArchitecture
    public var shape: RNNShape { architecture.shape }
    public let vocabulary: Vocabulary
    /// The tensors in ModelLayout order.
    public let parameters: Buffer<Float>
    /// Optimizer steps completed, when the file records it.
    public let step: Int?
    /// Steps whose gradient was clipped / skipped (non-finite), when the file records them
    /// (checkpoint metadata `clipped_steps`, `skipped_steps`).
    public let clippedSteps: Int?
    public let skippedSteps: Int?
    /// The training configuration (checkpoints only).
    public let config: TrainingConfig?

    public var layout: ModelLayout { ModelLayout(architecture: architecture) }

    /// Steps the clipped count refers to: `step` (skipped steps included), when known.
    public var totalSteps: Int? { step }

    /// clippedSteps / totalSteps, nil when either is unknown or no step was taken.
    public var clippedFraction: Double? {
        guard let clipped = clippedSteps, let total = totalSteps, total > 0 else { return nil }
        return Double(clipped) / Double(total)
    }

    /// The clipped fraction for people: "0.133 (4 of 30 steps)" or
    /// "unknown (not recorded in this file)".
    public var clippedFractionDescription: String {
        guard let clipped = clippedSteps, let total = totalSteps, let fraction = clippedFraction else {
            return "unknown (not recorded in this file)"
        }
        var text = String(format: "%.3f", fraction) + " (\(clipped) of \(total) steps)"
        if let skipped = skippedSteps, skipped > 0 { text += ", \(skipped) skipped (non-finite)" }
        return text
    }

    public init(path: String, kind: Kind, architecture: ModelArchitecture, vocabulary: Vocabulary, parameters: Buffer<Float>,
                step: Int? = nil, clippedSteps: Int? = nil, skippedSteps: Int? = nil, config: TrainingConfig? = nil) {
        precondition(parameters.count == ModelLayout(architecture: architecture).count, "parameters do not fit the architecture")
        self.path = path
        self.kind = kind
        self.architecture = architecture
        self.vocabulary = vocabulary
        self.parameters = parameters
        self.step = step
        self.clippedSteps = clippedSteps
        self.skippedSteps = skippedSteps
        self.config = config
    }

    /// A verified training checkpoint as a model (parsed once by the caller).
    private static func load(checkpoint: Checkpoint) throws -> ModelFile {
        let path = checkpoint.path
        let metadata = checkpoint.metadata
        let architecture = try inferArchitecture(checkpoint.file, path: path)
        guard architecture == metadata.architecture else {
            throw RunError.badInput("\(path): the tensors say \(describe(architecture)) "
                + "but the checkpoint metadata says \(describe(metadata.architecture))")
        }
        try checkVocabulary(metadata.vocabulary, architecture: architecture, path: path)
        let layout = ModelLayout(architecture: architecture)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        // A run with `ema` evaluates and saves its moving average: the checkpoint's model is that one too.
        try ParameterFile.copy(from: checkpoint.file, source: path,
                               prefix: checkpoint.hasAverage ? ExponentialMovingAverage.prefix + "." : "", layout: layout,
                               into: parameters)
        return ModelFile(path: path, kind: .checkpoint, architecture: architecture, vocabulary: metadata.vocabulary,
                         parameters: parameters, step: metadata.step,
                         clippedSteps: try optionalInteger(checkpoint.file, "clipped_steps", path: path),
                         skippedSteps: try optionalInteger(checkpoint.file, "skipped_steps", path: path),
                         config: metadata.config)
    }

    /// Reads a checkpoint, a checkpoint folder (its newest valid checkpoint) or a parameters
    /// file. Every problem is `RunError.badInput` with a message naming the file. `warning`
    /// hears of corrupt checkpoints skipped in a folder.
    public static func load(path: String, warning: (String) -> Void = { _ in }) throws -> ModelFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RunError.badInput("model file not found: \(path)")
        }
        if isDirectory.boolValue {
            let checkpoint: Checkpoint
            do {
                checkpoint = try CheckpointStore.newestValid(at: path, warn: warning)
            } catch {
                throw RunError.badInput(String(describing: error))
            }
            return try load(checkpoint: checkpoint)
        }

        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.read(path: path)
        } catch SafetensorsError.invalid(_, let problem) {
            throw RunError.badInput("\(path) is not a safetensors model file (\(problem))")
        } catch {
            throw RunError.badInput("cannot read \(path): \(error)")
        }

        if file.metadata["format"] == CheckpointMetadata.formatName {
            do {
                return try load(checkpoint: try Checkpoint.verified(file, path: path))
            } catch let error as RunError {
                throw error
            } catch {
                throw RunError.badInput(String(describing: error))
            }
        }

        guard let serialized = file.metadata["vocabulary"] else {
            throw RunError.badInput("\(path) has no vocabulary: save it with rnn-dist --save or use a checkpoint")
        }
        let vocabulary: Vocabulary
        do {
            vocabulary = try Vocabulary(serialized: serialized)
        } catch {
            throw RunError.badInput("\(path): \(error)")
        }
        let architecture = try inferArchitecture(file, path: path)
        try checkVocabulary(vocabulary, architecture: architecture, path: path)
        let layout = ModelLayout(architecture: architecture)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        try ParameterFile.copy(from: file, source: path, layout: layout, into: parameters)
        return ModelFile(path: path, kind: .parameters, architecture: architecture, vocabulary: vocabulary, parameters: parameters,
                         step: try optionalInteger(file, "step", path: path),
                         clippedSteps: try optionalInteger(file, "clipped_steps", path: path),
                         skippedSteps: try optionalInteger(file, "skipped_steps", path: path))
    }

    /// The architecture the tensor names and shapes say: a file with W_hh.0 is a stacked model
    /// (L from the W_hh.l present, G·H and H from W_hh.0 [G·H, H], V from W_xh.0 [G·H, V],
    /// the cell from G; with a `W_emb` [V, E] tensor (the embedding), V and E from it and W_xh.0 is
    /// [G·H, E], tied when there is no W_hy); otherwise the tanh RNN's five tensors. The other tensors are checked
    /// by ParameterFile.copy.
    package static func inferArchitecture(_ file: SafetensorsFile, path: String) throws -> ModelArchitecture {
        guard let W_hh0 = file.tensors["W_hh.0"]?.shape else { return ModelArchitecture(shape: try inferShape(file, path: path)) }
        var layers = 1
        while file.tensors["W_hh.\(layers)"] != nil { layers += 1 }
        guard W_hh0.count == 2, W_hh0[1] > 0, W_hh0[0] % W_hh0[1] == 0,
              let cell = CellKind.allCases.first(where: { $0.gateCount == W_hh0[0] / W_hh0[1] }) else {
            throw RunError.badInput("\(path): tensor 'W_hh.0' has shape \(W_hh0), expected [G·H, H] with G = 1 (rnn), 4 (lstm) or 3 (gru)")
        }
        guard let W_xh0 = file.tensors["W_xh.0"]?.shape, W_xh0.count == 2, W_xh0[0] == W_hh0[0], W_xh0[1] > 0 else {
            throw RunError.badInput("\(path): tensor 'W_xh.0' is missing or not [G·H, V] with G·H=\(W_hh0[0]) (from W_hh.0)")
        }
        guard let embedding = file.tensors["W_emb"]?.shape else {
            return ModelArchitecture(cell: cell, layers: layers, hiddenSize: W_hh0[1], vocabularySize: W_xh0[1])
        }
        let tied = file.tensors["W_hy"] == nil
        guard embedding.count == 2, embedding[0] > 0, embedding[1] == W_xh0[1], !tied || embedding[1] == W_hh0[1] else {
            throw RunError.badInput("\(path): tensor 'W_emb' has shape \(embedding), expected [V, E] with E=\(W_xh0[1]) (from W_xh.0)"
                + (tied ? " and, without a W_hy (tied weights), E = H = \(W_hh0[1])" : ""))
        }
        return ModelArchitecture(cell: cell, layers: layers, hiddenSize: W_hh0[1], vocabularySize: embedding[0],
                                 embeddingSize: embedding[1], tiedWeights: tied)
    }

    private static func describe(_ a: ModelArchitecture) -> String {
        "\(a.cell) L=\(a.layers) H=\(a.hiddenSize)\(a.embeddingSize.map { " E=\($0)\(a.tiedWeights ? " tied" : "")" } ?? ""), V=\(a.vocabularySize)"
    }

    /// H from W_hh [H, H], V from W_xh [H, V]; the other tensors are checked by ParameterFile.copy.
    package static func inferShape(_ file: SafetensorsFile, path: String) throws -> RNNShape {
        let present = file.tensors.keys.sorted().joined(separator: ", ")
        for name in ModelLayout.legacyTanhRNNNames where file.tensors[name] == nil {
            throw RunError.badInput("\(path) has no tensor '\(name)' (it has: \(present.isEmpty ? "none" : present))")
        }
        let W_hh = file.tensors["W_hh"]!.shape, W_xh = file.tensors["W_xh"]!.shape
        guard W_hh.count == 2, W_hh[0] == W_hh[1], W_hh[0] > 0 else {
            throw RunError.badInput("\(path): tensor 'W_hh' has shape \(W_hh), expected a square [H, H]")
        }
        let H = W_hh[0]
        guard W_xh.count == 2, W_xh[0] == H, W_xh[1] > 0 else {
            throw RunError.badInput("\(path): tensor 'W_xh' has shape \(W_xh), expected [H, V] with H=\(H) (from W_hh)")
        }
        return RNNShape(vocabularySize: W_xh[1], hiddenSize: H)
    }

    private static func checkVocabulary(_ vocabulary: Vocabulary, architecture: ModelArchitecture, path: String) throws {
        guard vocabulary.count == architecture.vocabularySize else {
            throw RunError.badInput("\(path): the vocabulary has \(vocabulary.count) symbols but the tensors have V=\(architecture.vocabularySize)")
        }
    }

    private static func optionalInteger(_ file: SafetensorsFile, _ key: String, path: String) throws -> Int? {
        guard let text = file.metadata[key] else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw RunError.badInput("\(path): metadata '\(key)' is not a non-negative integer: \(text)")
        }
        return value
    }
}
