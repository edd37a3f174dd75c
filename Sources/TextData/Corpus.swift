import Foundation
import FileIO
/// A tokenized text with its vocabulary, split into training and validation tokens.
public struct Corpus: Sendable {
    /// For messages: the file path as given, or the synthetic task spec.
    public let name: String
    public let vocabulary: Vocabulary
    public let trainTokens: [Int32]
    /// The tail of the text; may be empty.
    public let validationTokens: [Int32]
    /// The best achievable loss in nats/token when known (synthetic tasks), else nil.
    public let entropyFloor: Double?
    /// One line for the progress header.
    public let summary: String

    public init(name: String, vocabulary: Vocabulary, trainTokens: [Int32], validationTokens: [Int32],
                entropyFloor: Double? = nil, summary: String) {
        self.name = name
        self.vocabulary = vocabulary
        self.trainTokens = trainTokens
        self.validationTokens = validationTokens
        self.entropyFloor = entropyFloor
        self.summary = summary
    }

    /// Tokenizes `symbols` and holds out the last `validationFraction` of them.
    ///
    /// The vocabulary is built from the WHOLE text, not only the training split, so the
    /// validation split never contains unknown tokens. If `vocabulary` is given (resuming, or
    /// evaluating a trained model) it is used instead and a symbol outside it is an error.
    public init(name: String, symbols: [UInt32], tokenizer: Tokenizer, validationFraction: Double,
                vocabulary: Vocabulary? = nil, entropyFloor: Double? = nil, summary: String? = nil) throws {
        guard validationFraction >= 0, validationFraction <= 0.5 else {
            throw CorpusError.invalidValidationFraction(validationFraction)
        }
        guard !symbols.isEmpty else { throw CorpusError.empty(path: name) }
        let vocabulary = vocabulary ?? Vocabulary(tokenizer: tokenizer, symbols: symbols)
        guard vocabulary.tokenizer == tokenizer else {
            throw CorpusError.tokenizerMismatch(path: name, corpus: tokenizer, vocabulary: vocabulary.tokenizer)
        }
        var tokens = [Int32]()
        tokens.reserveCapacity(symbols.count)
        for (index, symbol) in symbols.enumerated() {
            guard let id = vocabulary.id(of: symbol) else {
                throw CorpusError.unknownSymbol(path: name, symbol: Vocabulary.describe(symbol, tokenizer: tokenizer),
                                                tokenIndex: index)
            }
            tokens.append(id)
        }
        let validationCount = Int((Double(tokens.count) * validationFraction).rounded(.down))
        let trainCount = tokens.count - validationCount
        self.init(
            name: name, vocabulary: vocabulary,
            trainTokens: Array(tokens[..<trainCount]), validationTokens: Array(tokens[trainCount...]),
            entropyFloor: entropyFloor,
            summary: summary ?? "\(name): \(vocabulary.count) symbols (\(tokenizer.rawValue)), "
                + "\(trainCount) train + \(validationCount) validation tokens")
    }

    /// Reads and tokenizes the text file at `path` (see `init(name:symbols:...)` for the split
    /// and the vocabulary).
    public static func load(path: String, tokenizer: Tokenizer = .chars, validationFraction: Double,
                            vocabulary: Vocabulary? = nil) throws -> Corpus {
        guard validationFraction >= 0, validationFraction <= 0.5 else {
            throw CorpusError.invalidValidationFraction(validationFraction)
        }
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path: path)
        } catch FileIOError.notFound {
            throw CorpusError.missing(path: path)
        } catch FileIOError.unreadable(_, let reason) {
            throw CorpusError.unreadable(path: path, reason: reason)
        }
        guard !bytes.isEmpty else { throw CorpusError.empty(path: path) }
        let symbols = try tokenizer.symbols(of: bytes, source: path)
        return try Corpus(name: path, symbols: symbols, tokenizer: tokenizer,
                          validationFraction: validationFraction, vocabulary: vocabulary)
    }

    /// Throws unless the training split holds at least one sequence of `sequenceLength`
    /// (T + 1 tokens: T inputs and the T targets shifted by one).
    public func validate(sequenceLength: Int) throws {
        guard sequenceLength >= 1 else { throw CorpusError.invalidSequenceLength(sequenceLength) }
        guard trainTokens.count >= sequenceLength + 1 else {
            throw CorpusError.tooShort(name: name, tokens: trainTokens.count, sequenceLength: sequenceLength)
        }
    }
}

/// A corpus that cannot be used, with the file and the reason.
public enum CorpusError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case invalidUTF8(path: String, offset: Int)
    case unknownSymbol(path: String, symbol: String, tokenIndex: Int)
    case tokenizerMismatch(path: String, corpus: Tokenizer, vocabulary: Tokenizer)
    case invalidValidationFraction(Double)
    case invalidSequenceLength(Int)
    case tooShort(name: String, tokens: Int, sequenceLength: Int)
    case tooShortForStreams(tokens: Int, streams: Int, chunkLength: Int)

    public var description: String {
        switch self {
        case .missing(let path):
            return "corpus file not found: \(path)"
        case .unreadable(let path, let reason):
            return "cannot read corpus file \(path): \(reason)"
        case .empty(let path):
            return "corpus \(path) is empty"
        case .invalidUTF8(let path, let offset):
            return "corpus \(path) is not valid UTF-8 (first invalid sequence at byte offset \(offset)); "
                + "use the bytes tokenizer for binary or non-UTF-8 text"
        case .unknownSymbol(let path, let symbol, let index):
            return "corpus \(path) contains \(symbol) at token \(index), which is not in the model's vocabulary"
        case .tokenizerMismatch(let path, let corpus, let vocabulary):
            return "corpus \(path) is read with the \(corpus.rawValue) tokenizer but the vocabulary uses \(vocabulary.rawValue)"
        case .invalidValidationFraction(let value):
            return "validation fraction must be between 0 and 0.5, got \(value)"
        case .invalidSequenceLength(let value):
            return "sequence length must be at least 1, got \(value)"
        case .tooShort(let name, let tokens, let sequenceLength):
            return "training split of \(name) has \(tokens) tokens; sequence length \(sequenceLength) "
                + "needs at least \(sequenceLength + 1)"
        case .tooShortForStreams(let tokens, let streams, let chunkLength):
            return "the training split has \(tokens) tokens: too short for \(streams) streams "
                + "of at least \(chunkLength) steps (bptt-steps); it needs \(streams * chunkLength + 1)"
        }
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension CorpusError: LocalizedError { public var errorDescription: String? { description } }
