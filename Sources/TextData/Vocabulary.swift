import Foundation

/// The token alphabet: the sorted distinct symbols (Unicode scalar values or byte values)
/// of a corpus, token id = index in `symbols`; or a byte-level BPE, whose own ids are the
/// token ids (all of its vocabulary, used in the corpus or not: any text it encodes, and
/// any ids a user brings, fit the model). Stored in checkpoints so that sampling and
/// resuming use exactly the ids the model was trained with.
public struct Vocabulary: Codable, Equatable, Sendable {
    public let tokenizer: Tokenizer
    /// Strictly increasing; a BPE's are its ids 0 ..< V.
    public let symbols: [UInt32]
    /// The tokenizer of a `bpe` vocabulary, nil for the others.
    public let bytePairEncoding: BytePairEncoding?

    /// The vocabulary of the distinct values in `symbols` (any order, repeats allowed).
    public init(tokenizer: Tokenizer, symbols: some Sequence<UInt32>) {
        precondition(tokenizer != .bpe, "a bpe vocabulary is its tokenizer's")
        self.tokenizer = tokenizer
        self.symbols = Array(Set(symbols)).sorted()
        bytePairEncoding = nil
    }

    /// The vocabulary of a BPE: V = its vocabulary size.
    public init(bytePairEncoding: BytePairEncoding) {
        tokenizer = .bpe
        symbols = Array(0..<UInt32(bytePairEncoding.vocabularySize))
        self.bytePairEncoding = bytePairEncoding
    }

    private enum CodingKeys: String, CodingKey { case tokenizer, symbols, bpe }

    /// A BPE is stored as its tokenizer.json (a string), the others as their symbols.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tokenizer, forKey: .tokenizer)
        if let bytePairEncoding {
            try container.encode(String(decoding: bytePairEncoding.json, as: UTF8.self), forKey: .bpe)
        } else {
            try container.encode(symbols, forKey: .symbols)
        }
    }

    /// Decoding checks what the lookup relies on: sorted, distinct, within the tokenizer's range.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let tokenizer = try container.decode(Tokenizer.self, forKey: .tokenizer)
        if tokenizer == .bpe {
            let json = try container.decode(String.self, forKey: .bpe)
            do {
                self.init(bytePairEncoding: try BytePairEncoding(json: Array(json.utf8), source: "stored in the vocabulary"))
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .bpe, in: container, debugDescription: "\(error)")
            }
            return
        }
        let symbols = try container.decode([UInt32].self, forKey: .symbols)
        for (previous, next) in zip(symbols, symbols.dropFirst()) where previous >= next {
            throw DecodingError.dataCorruptedError(forKey: .symbols, in: container,
                debugDescription: "vocabulary symbols must be strictly increasing")
        }
        if let last = symbols.last, last > tokenizer.maximumSymbol {
            throw DecodingError.dataCorruptedError(forKey: .symbols, in: container,
                debugDescription: "symbol \(last) is out of range for tokenizer \(tokenizer.rawValue)")
        }
        try self.init(tokenizer: tokenizer, sortedSymbols: symbols)
    }

    /// Symbols read from a token file: checked strictly increasing and within the tokenizer's range.
    package init(tokenizer: Tokenizer, sortedSymbols: [UInt32]) throws {
        guard tokenizer != .bpe, zip(sortedSymbols, sortedSymbols.dropFirst()).allSatisfy({ $0 < $1 }),
              (sortedSymbols.last ?? 0) <= tokenizer.maximumSymbol else {
            throw VocabularyError.invalidSerialization("symbols not strictly increasing or out of range for \(tokenizer.rawValue)")
        }
        self.tokenizer = tokenizer
        symbols = sortedSymbols
        bytePairEncoding = nil
    }

    /// For messages: `65 symbols (chars)`.
    public var summary: String { "\(count) symbols (\(tokenizer.rawValue))" }

    public var count: Int { symbols.count }

    /// The id of `symbol`, or nil if it is not in the vocabulary (binary search).
    public func id(of symbol: UInt32) -> Int32? {
        var low = 0
        var high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle] < symbol { low = middle + 1 } else { high = middle }
        }
        return low < symbols.count && symbols[low] == symbol ? Int32(low) : nil
    }

    /// Ids of symbols known to be in the vocabulary (the corpus they came from built it).
    package func ids(ofKnown symbols: [UInt32]) -> [Int32] {
        var table = [UInt32: Int32](minimumCapacity: self.symbols.count)
        for (index, symbol) in self.symbols.enumerated() { table[symbol] = Int32(index) }
        return symbols.map { table[$0]! }
    }

    /// The ids of `text` (e.g. a sampling prime); throws naming the first unknown character.
    public func encode(_ text: String) throws -> [Int32] {
        if let bytePairEncoding { return try bytePairEncoding.encode(text) }
        let values: [UInt32] = tokenizer == .chars ? text.unicodeScalars.map(\.value) : text.utf8.map { UInt32($0) }
        return try values.enumerated().map { position, value in
            guard let id = id(of: value) else {
                throw VocabularyError.unknownSymbol(Self.describe(value, tokenizer: tokenizer), position: position)
            }
            return id
        }
    }

    /// The text of `ids`; `bytes` vocabularies decode as lossy UTF-8, ids out of range
    /// become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        switch tokenizer {
        case .chars:
            var scalars = String.UnicodeScalarView()
            for id in ids {
                let value = id >= 0 && Int(id) < symbols.count ? symbols[Int(id)] : 0xFFFD
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            }
            return String(scalars)
        case .bpe:
            return bytePairEncoding!.decode(ids)
        case .bytes:
            var bytes = [UInt8]()
            var text = ""
            for id in ids {
                if id >= 0 && Int(id) < symbols.count {
                    bytes.append(UInt8(truncatingIfNeeded: symbols[Int(id)]))
                } else {
                    text += String(decoding: bytes, as: UTF8.self) + "\u{FFFD}"
                    bytes.removeAll()
                }
            }
            return text + String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Characters of the text `id` stands for (UTF-8 lead bytes: a `bytes` token continuing
    /// a character counts 0), so that losses convert to nats per character.
    public func characters(of id: Int32) -> Int {
        switch tokenizer {
        case .chars: return 1
        case .bytes: return id >= 0 && Int(id) < symbols.count && symbols[Int(id)] & 0xC0 == 0x80 ? 0 : 1
        case .bpe: return bytePairEncoding!.characters(of: id)
        }
    }

    /// Characters of the text of `ids`.
    public func characters(in ids: some Sequence<Int32>) -> Int {
        switch tokenizer {
        case .chars: return ids.reduce(0) { count, _ in count + 1 }
        case .bytes, .bpe: return ids.reduce(0) { $0 + characters(of: $1) }
        }
    }

    /// The prime of a sample when none is given: a newline if the vocabulary can encode one,
    /// else its first token.
    public var defaultPrime: String {
        switch tokenizer {
        case .chars, .bytes: return id(of: 0x0A) != nil ? "\n" : decode([0])
        case .bpe: return (try? encode("\n")) != nil ? "\n" : decode([0])
        }
    }

    /// A compact, stable text form for checkpoint metadata:
    /// `{"symbols":[10,32,...],"tokenizer":"chars"}`.
    public var serialized: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding integers and a string enum cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Restores a vocabulary written by `serialized`.
    public init(serialized: String) throws {
        do {
            self = try JSONDecoder().decode(Vocabulary.self, from: Data(serialized.utf8))
        } catch {
            throw VocabularyError.invalidSerialization(String(describing: error))
        }
    }

    /// A symbol for humans: `'a' (U+0061)`, `'\n' (U+000A)`, `byte 0xFF`.
    package static func describe(_ symbol: UInt32, tokenizer: Tokenizer) -> String {
        if tokenizer == .bpe { return "token \(symbol)" }
        if tokenizer == .bytes {
            let hex = String(symbol, radix: 16, uppercase: true)
            return "byte 0x\(hex.count < 2 ? "0" + hex : hex)"
        }
        let hex = String(symbol, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        guard let scalar = Unicode.Scalar(symbol) else { return code }
        return "'\(scalar.escaped(asASCII: false))' (\(code))"
    }
}

/// A text that does not fit a vocabulary, or a stored vocabulary that cannot be read.
public enum VocabularyError: Error, Equatable, CustomStringConvertible {
    case unknownSymbol(String, position: Int)
    case invalidSerialization(String)

    public var description: String {
        switch self {
        case .unknownSymbol(let symbol, let position):
            return "character \(symbol) at position \(position) is not in the model's vocabulary"
        case .invalidSerialization(let reason):
            return "invalid stored vocabulary: \(reason)"
        }
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension VocabularyError: LocalizedError { public var errorDescription: String? { description } }
