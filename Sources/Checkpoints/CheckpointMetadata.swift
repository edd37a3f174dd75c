import Foundation
import Optimizers
import RNN
import Config
import TextData

/// What a checkpoint says about itself beside its tensors (the safetensors `__metadata__`,
/// a flat map of strings, docs/design.md §7).
public struct CheckpointMetadata: Equatable, Sendable {
    public static let formatName = "rnn-dist-checkpoint"
    public static let formatVersion = 1

    /// Optimizer steps completed (skipped non-finite steps included): the run resumes at this step.
    public var step: Int
    public var epoch: Int
    /// Sequences consumed so far (step × global batch): where the sampler continues.
    public var dataCursor: Int
    public var globalBatch: Int
    /// The shuffle permutations are drawn from (seed, epoch) alone; this is the whole RNG state.
    public var seed: Int
    public var vocabulary: Vocabulary
    /// Cell, L, H, V. A file without cell or layers is the one-layer tanh RNN (the first format).
    public var architecture: ModelArchitecture
    public var shape: RNNShape { architecture.shape }
    public var optimizer: OptimizerKind
    public var optimizerStepCount: Int
    public var config: TrainingConfig
    public var ranks: Int
    /// Steps whose gradient was clipped / skipped as non-finite, over the whole run.
    public var clippedSteps = 0
    public var skippedSteps = 0
    /// Best validation loss so far (keep-best compares against it after a resume).
    public var bestValidationLoss: Double?
    /// Truncated BPTT: the chunk the streams continue from (step mod chunks per epoch).
    public var streamCursor: Int?
    /// The recurrence kernel that computed the run (RecurrenceKernel.name): a resume runs the
    /// same one, so that it continues with the same rounding (nil in files written before).
    public var recurrenceKernel: String?
    /// The plateau schedule's and early stopping's state (absent: a fresh plateau).
    public var plateau = ValidationPlateau()

    public init(step: Int, epoch: Int, dataCursor: Int, globalBatch: Int, seed: Int, vocabulary: Vocabulary,
                architecture: ModelArchitecture, optimizer: OptimizerKind, optimizerStepCount: Int, config: TrainingConfig, ranks: Int) {
        self.step = step
        self.epoch = epoch
        self.dataCursor = dataCursor
        self.globalBatch = globalBatch
        self.seed = seed
        self.vocabulary = vocabulary
        self.architecture = architecture
        self.optimizer = optimizer
        self.optimizerStepCount = optimizerStepCount
        self.config = config
        self.ranks = ranks
    }

    /// The string map stored in the file (without the data checksum, which the writer adds).
    public var strings: [String: String] {
        [
            "format": Self.formatName,
            "format_version": String(Self.formatVersion),
            "step": String(step),
            "epoch": String(epoch),
            "data_cursor": String(dataCursor),
            "global_batch": String(globalBatch),
            "rng_state": #"{"seed":\#(seed),"shuffle":"permutation per epoch drawn from (seed, epoch)"}"#,
            "vocabulary": vocabulary.serialized,
            "model": #"{"cell":"\#(architecture.cell.rawValue)","layers":\#(architecture.layers),"hidden":\#(architecture.hiddenSize),"vocabulary_size":\#(architecture.vocabularySize)\#(embeddingFields)}"#,
            "optimizer": #"{"name":"\#(optimizer.rawValue)","step_count":\#(optimizerStepCount)}"#,
            "config": Self.json(config),
            "ranks": String(ranks),
            "clipped_steps": String(clippedSteps),
            "skipped_steps": String(skippedSteps),
        ].merging(optionalStrings) { $1 }
    }

    /// The embedding's width and tying in the 'model' object; nothing for a one-hot model (so
    /// its files are as before the embedding existed).
    private var embeddingFields: String {
        architecture.embeddingSize.map { #","embedding":\#($0),"tied_weights":\#(architecture.tiedWeights)"# } ?? ""
    }

    private var optionalStrings: [String: String] {
        var strings: [String: String] = [:]
        if let bestValidationLoss { strings["best_val_loss"] = String(bestValidationLoss) }
        if let streamCursor { strings["stream_cursor"] = String(streamCursor) }
        if let recurrenceKernel { strings["recurrence_kernel"] = recurrenceKernel }
        if plateau != ValidationPlateau() {
            strings["plateau"] = #"{"factor":\#(plateau.factor),"best":\#(plateau.best.isFinite ? String(plateau.best) : "null"),"#
                + #""bad_evaluations":\#(plateau.badEvaluations),"evaluations_since_best":\#(plateau.evaluationsSinceBest)}"#
        }
        return strings
    }

    /// Reads the map back; `source` names the file in errors.
    public init(strings: [String: String], source: String) throws {
        func field(_ key: String) throws -> String {
            guard let value = strings[key] else { throw CheckpointError.invalid(path: source, reason: "metadata has no '\(key)'") }
            return value
        }
        func integer(_ key: String) throws -> Int {
            guard let value = Int(try field(key)) else { throw CheckpointError.invalid(path: source, reason: "metadata '\(key)' is not an integer") }
            return value
        }
        func object(_ key: String) throws -> [String: Any] {
            guard let data = try field(key).data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CheckpointError.invalid(path: source, reason: "metadata '\(key)' is not a JSON object")
            }
            return object
        }
        guard strings["format"] == Self.formatName else {
            throw CheckpointError.invalid(path: source, reason: "not an rnn-dist checkpoint (a parameters-only file belongs to --init)")
        }
        let version = try integer("format_version")
        guard version == Self.formatVersion else {
            throw CheckpointError.invalid(path: source, reason: "checkpoint format version \(version); this rnn-dist reads version \(Self.formatVersion)")
        }
        let model = try object("model")
        let optimizerInfo = try object("optimizer")
        let rng = try object("rng_state")
        guard let hidden = model["hidden"] as? Int, let vocabularySize = model["vocabulary_size"] as? Int,
              let optimizerName = optimizerInfo["name"] as? String, let optimizerSteps = optimizerInfo["step_count"] as? Int,
              let seed = rng["seed"] as? Int else {
            throw CheckpointError.invalid(path: source, reason: "metadata 'model', 'optimizer' or 'rng_state' lacks a field")
        }
        let cellName = model["cell"] as? String ?? "rnn", layers = model["layers"] as? Int ?? 1
        guard let cell = Self.cell(named: cellName) else {
            throw CheckpointError.invalid(path: source, reason: "metadata 'model' has an unknown cell '\(cellName)'")
        }
        let embedding = model["embedding"] as? Int, tied = model["tied_weights"] as? Bool ?? false
        // RNNShape traps on a size below 1: a file's word is checked before it becomes one.
        guard layers >= 1, hidden > 0, vocabularySize > 0, embedding.map({ $0 > 0 }) ?? true, !tied || embedding == hidden else {
            throw CheckpointError.invalid(path: source, reason: "metadata 'model' has layers \(layers), hidden \(hidden) and "
                + "vocabulary_size \(vocabularySize)\(embedding.map { ", embedding \($0)" } ?? "")\(tied ? ", tied" : ""); "
                + "all must be positive, and tied weights need embedding = hidden")
        }
        guard let optimizer = OptimizerKind(rawValue: optimizerName) else {
            throw CheckpointError.invalid(path: source, reason: "metadata 'optimizer' names an unknown optimizer '\(optimizerName)'")
        }
        do {
            self.init(step: try integer("step"), epoch: try integer("epoch"), dataCursor: try integer("data_cursor"),
                      globalBatch: try integer("global_batch"), seed: seed,
                      vocabulary: try Vocabulary(serialized: try field("vocabulary")),
                      architecture: ModelArchitecture(cell: cell, layers: layers, hiddenSize: hidden, vocabularySize: vocabularySize,
                                                      embeddingSize: embedding, tiedWeights: tied),
                      optimizer: optimizer, optimizerStepCount: optimizerSteps,
                      config: try Self.decodeConfig(try field("config")),
                      ranks: try integer("ranks"))
            clippedSteps = strings["clipped_steps"].flatMap { Int($0) } ?? 0
            skippedSteps = strings["skipped_steps"].flatMap { Int($0) } ?? 0
            bestValidationLoss = strings["best_val_loss"].flatMap { Double($0) }
            streamCursor = strings["stream_cursor"].flatMap { Int($0) }
            recurrenceKernel = strings["recurrence_kernel"]
            if strings["plateau"] != nil {
                let state = try object("plateau")
                guard let factor = (state["factor"] as? NSNumber)?.doubleValue, let bad = state["bad_evaluations"] as? Int,
                      let since = state["evaluations_since_best"] as? Int else {
                    throw CheckpointError.invalid(path: source, reason: "metadata 'plateau' lacks factor, bad_evaluations or evaluations_since_best")
                }
                plateau = ValidationPlateau(factor: factor, best: (state["best"] as? NSNumber)?.doubleValue ?? .infinity,
                                            badEvaluations: bad, evaluationsSinceBest: since)
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.invalid(path: source, reason: "unreadable metadata: \(error)")
        }
    }

    /// The cell under its config name; "tanh" is the tanh RNN's name in files written before
    /// checkpoints used the config's names, so those still load.
    private static func cell(named name: String) -> CellKind? { name == "tanh" ? .rnn : CellKind(rawValue: name) }

    /// The stored configuration over today's defaults: a checkpoint written before a key
    /// existed still loads, with that key at its default.
    package static func decodeConfig(_ text: String) throws -> TrainingConfig {
        if let keyed = try ConfigRecord.decode(text, source: "the checkpoint's config") { return keyed }
        // Written before checkpoints used the key table's names: the properties' names.
        let defaults = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(TrainingConfig())) as? [String: Any] ?? [:]
        let stored = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
        let merged = defaults.merging(stored) { $1 }
        return try JSONDecoder().decode(TrainingConfig.self, from: try JSONSerialization.data(withJSONObject: merged))
    }

    /// The configuration under the key table's names, as a config file says it (ConfigRecord).
    private static func json(_ config: TrainingConfig) -> String { ConfigRecord.json(config) }
}
