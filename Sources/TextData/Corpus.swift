import Foundation
import FileIO
/// A tokenized text with its vocabulary, split into training and validation tokens. The ids
/// are a `TokenSequence`: owned memory for a text file or a synthetic task, the shared
/// mapping of a token file (`rnn-dist prepare`), which no rank copies.
public struct Corpus: Sendable {
    /// For messages: the file path as given, or the synthetic task spec.
    public let name: String
    public let vocabulary: Vocabulary
    /// All tokens: training [0, validationStart), validation [validationStart, count).
    public let tokens: TokenSequence
    public let validationStart: Int
    /// TokenChecksum of the ids stored at the vocabulary's token width: the same for a text
    /// and for the token file prepared from it; checkpoints record it (`corpus_checksum`).
    public let checksum: UInt64
    /// The best achievable loss in nats/token when known (synthetic tasks), else nil.
    public let entropyFloor: Double?
    /// One line for the progress header.
    public let summary: String
    /// One line for the user when the corpus would be better prepared (a large text file).
    public var advice: String?
    /// Characters of the text behind each split, nil when unknown (synthetic tasks, a
    /// format-1 token file of bytes): losses per token convert to losses per character.
    public let characters: CharacterCounts?

    /// Characters per token of the validation split (of the training split when there is
    /// no validation), nil when unknown: nats per character = nats per token ÷ this.
    public var charactersPerToken: Double? {
        guard let characters else { return nil }
        let validationTokens = tokens.count - validationStart
        return validationTokens > 0 ? Double(characters.validation) / Double(validationTokens)
            : validationStart > 0 ? Double(characters.train) / Double(validationStart) : nil
    }

    public var train: TokenSequence { tokens.slice(0..<validationStart) }
    /// The tail of the text; may be empty.
    public var validation: TokenSequence { tokens.slice(validationStart..<tokens.count) }
    /// Copies, for small corpora and tests; batches read `train` and `validation`.
    public var trainTokens: [Int32] { train.array }
    public var validationTokens: [Int32] { validation.array }

    init(name: String, vocabulary: Vocabulary, tokens: TokenSequence, validationStart: Int, checksum: UInt64? = nil,
         characters: CharacterCounts? = nil, entropyFloor: Double?, summary: String) {
        self.name = name
        self.characters = characters
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.validationStart = validationStart
        self.checksum = checksum ?? tokens.checksum(width: .fitting(vocabularySize: vocabulary.count))
        self.entropyFloor = entropyFloor
        self.summary = summary
    }

    public init(name: String, vocabulary: Vocabulary, trainTokens: [Int32], validationTokens: [Int32],
                entropyFloor: Double? = nil, summary: String) {
        self.init(name: name, vocabulary: vocabulary, tokens: TokenSequence(trainTokens + validationTokens, vocabularySize: vocabulary.count),
                  validationStart: trainTokens.count, entropyFloor: entropyFloor, summary: summary)
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
        guard tokenizer != .bpe || vocabulary != nil else { throw CorpusError.bpeNeedsTokenizer(path: name) }
        let vocabulary = vocabulary ?? Vocabulary(tokenizer: tokenizer, symbols: symbols)
        guard vocabulary.tokenizer == tokenizer else {
            throw CorpusError.tokenizerMismatch(path: name, corpus: tokenizer, vocabulary: vocabulary.tokenizer)
        }
        let ids = UnsafeMutablePointer<Int32>.allocate(capacity: symbols.count)
        for (index, symbol) in symbols.enumerated() {
            guard let id = vocabulary.id(of: symbol) else {
                ids.deallocate()
                throw CorpusError.unknownSymbol(path: name, symbol: Vocabulary.describe(symbol, tokenizer: tokenizer),
                                                tokenIndex: index)
            }
            ids[index] = id
        }
        let tokens = TokenSequence(storage: TokenStorage(owning: ids, count: symbols.count, vocabularySize: vocabulary.count))
        let validationCount = Self.validationCount(tokens: symbols.count, fraction: validationFraction)
        let trainCount = symbols.count - validationCount
        let all = UnsafeBufferPointer(start: ids, count: symbols.count)
        let characters = CharacterCounts(train: vocabulary.characters(in: all[..<trainCount]),
                                         validation: vocabulary.characters(in: all[trainCount...]))
        self.init(name: name, vocabulary: vocabulary, tokens: tokens, validationStart: trainCount, characters: characters,
                  entropyFloor: entropyFloor,
                  summary: summary ?? "\(name): \(vocabulary.count) symbols (\(tokenizer.rawValue)), "
                      + "\(trainCount) train + \(validationCount) validation tokens")
    }

    /// Tokens held out: the same rule for a text file and for `prepare`.
    package static func validationCount(tokens: Int, fraction: Double) -> Int {
        Int((Double(tokens) * fraction).rounded(.down))
    }

    /// A text file above this size gets the advice to `prepare` it.
    public static let prepareAdviceBytes = 64 << 20

    /// Reads and tokenizes the text file at `path` (see `init(name:symbols:...)` for the split
    /// and the vocabulary).
    public static func load(path: String, tokenizer: Tokenizer = .chars, validationFraction: Double,
                            vocabulary: Vocabulary? = nil, adviceAboveBytes: Int = prepareAdviceBytes) throws -> Corpus {
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
        var symbols = try tokenizer.symbols(of: bytes, source: path)
        if tokenizer == .bpe {
            // A BPE's symbols are its ids: the text is encoded by the model's tokenizer.
            guard let encoding = vocabulary?.bytePairEncoding else { throw CorpusError.bpeNeedsTokenizer(path: path) }
            var encoder = BytePairEncoder(encoding)
            var ids = [UInt32]()
            try encoder.append(symbols, final: true) { ids.append(UInt32($0)) }
            symbols = ids
        }
        var corpus = try Corpus(name: path, symbols: symbols, tokenizer: tokenizer,
                                validationFraction: validationFraction, vocabulary: vocabulary)
        if bytes.count > adviceAboveBytes {
            corpus.advice = "note: \(path) is \(bytes.count >> 20) MB of text, read and tokenized by every rank into its own memory; "
                + "`rnn-dist prepare \(path) --output FILE` once, then --data FILE, maps it instead"
        }
        return corpus
    }

    /// Maps the token file at `path` (see `TokenFile`); its own vocabulary and split apply.
    /// With `vocabulary` (resuming, evaluating a model) the file's must be the same.
    public static func load(tokenFile path: String, vocabulary: Vocabulary? = nil) throws -> Corpus {
        let file = try TokenFile(path: path)
        let header = file.header
        if let vocabulary, vocabulary != header.vocabulary {
            throw CorpusError.vocabularyMismatch(path: path, corpus: header.vocabulary.summary, model: vocabulary.summary)
        }
        let validationCount = header.tokenCount - header.validationStart
        return Corpus(name: path, vocabulary: header.vocabulary, tokens: file.tokens, validationStart: header.validationStart,
                      checksum: header.dataChecksum, characters: header.characters, entropyFloor: nil,
                      summary: "\(path): token file, \(header.vocabulary.summary), \(header.validationStart) train + "
                          + "\(validationCount) validation tokens")
    }

    /// Throws unless the training split holds at least one sequence of `sequenceLength`
    /// (T + 1 tokens: T inputs and the T targets shifted by one).
    public func validate(sequenceLength: Int) throws {
        guard sequenceLength >= 1 else { throw CorpusError.invalidSequenceLength(sequenceLength) }
        guard validationStart >= sequenceLength + 1 else {
            throw CorpusError.tooShort(name: name, tokens: validationStart, sequenceLength: sequenceLength)
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
    case vocabularyMismatch(path: String, corpus: String, model: String)
    case noInput
    case emptyFolder(path: String)
    case changedWhilePreparing(path: String)
    case bpeNeedsTokenizer(path: String)
    case idsNeedOneFile(String)
    case partialID(path: String, bytes: Int, width: Int)
    case idOutsideVocabulary(path: String, id: UInt32, tokenIndex: Int, vocabularySize: Int)

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
        case .vocabularyMismatch(let path, let corpus, let model):
            return "token file \(path) has a vocabulary of \(corpus), the model's is \(model): not the same vocabulary"
        case .noInput:
            return "no input files given"
        case .emptyFolder(let path):
            return "folder \(path) holds no files"
        case .changedWhilePreparing(let path):
            return "\(path) changed while it was being prepared; run prepare again"
        case .bpeNeedsTokenizer(let path):
            return "\(path): the bpe tokenizer needs its tokenizer.json: rnn-dist prepare TEXT --tokenizer FILE.json --output OUT, then --data OUT"
        case .idsNeedOneFile(let inputs):
            return "prepare --ids takes one file of ids, got \(inputs.isEmpty ? "none" : inputs)"
        case .partialID(let path, let bytes, let width):
            return "\(path) has \(bytes) bytes, not a whole number of \(width)-byte ids (is --dtype uint\(8 * width) right?)"
        case .idOutsideVocabulary(let path, let id, let index, let vocabularySize):
            return "\(path): id \(id) at token \(index) is not in the tokenizer's vocabulary of \(vocabularySize)"
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
extension TokenFileError: LocalizedError { public var errorDescription: String? { description } }
