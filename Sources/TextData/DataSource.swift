/// The `data` setting, parsed once where the configuration is read: a built-in synthetic task,
/// or a file — a token file from `rnn-dist prepare` (recognized by its magic bytes, whatever its
/// name) or a text file. `setting` is its spelling, as YAML, flags and checkpoints write it.
public enum DataSource: Equatable, Sendable {
    /// `synthetic:NAME[:key=value,…]`: the task, and the setting it was read from.
    case synthetic(SyntheticTask, setting: String)
    /// Any other setting: a path.
    case file(path: String)

    /// The `synthetic:` prefix names a task (a malformed one throws); anything else is a path.
    public init(parsing setting: String) throws {
        self = SyntheticTask.isSpec(setting) ? .synthetic(try SyntheticTask(spec: setting), setting: setting) : .file(path: setting)
    }

    public var setting: String {
        switch self {
        case .synthetic(_, let setting): return setting
        case .file(let path): return path
        }
    }

    /// The corpus this source names.
    public func load(tokenizer: Tokenizer, validationFraction: Double, vocabulary: Vocabulary? = nil) throws -> Corpus {
        switch self {
        case .synthetic(let task, _):
            // The synthetic data depends only on its task (its own seed), so runs stay comparable.
            return try task.makeCorpus()
        case .file(let path) where TokenFileHeader.isTokenFile(path: path):
            return try Corpus.load(tokenFile: path, vocabulary: vocabulary)
        case .file(let path):
            return try Corpus.load(path: path, tokenizer: tokenizer, validationFraction: validationFraction, vocabulary: vocabulary)
        }
    }
}

/// Checkpoints store the setting's spelling, as YAML does, so files written before the type
/// existed read the same.
extension DataSource: Codable {
    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(setting)
    }
}
