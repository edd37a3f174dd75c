import Foundation
import FileIO

/// A byte-level BPE read from a Hugging Face `tokenizer.json` (GPT-2's scheme): the text is
/// split at added tokens, then by the ByteLevel pre-tokenizer's regex, each piece's UTF-8
/// bytes become symbols of a 256-character alphabet, and merges are applied lowest rank
/// first (leftmost among equal ranks), one at a time, as `tokenizers` does. The ids equal
/// those of `tokenizers`' `encode` of the whole text (docs/data.md says what is refused).
public struct BytePairEncoding: Sendable {
    /// The file as read: stored in token files and checkpoints so decoding needs nothing else.
    public let json: [UInt8]
    /// Largest id + 1 (model vocabulary and added tokens); ids index the model's input directly.
    public let vocabularySize: Int
    /// The bytes each id decodes to (nil: no token has this id).
    let tokenBytes: [[UInt8]?]
    /// Characters (UTF-8 lead bytes) of each id's bytes, for losses per character.
    let tokenCharacters: [Int32]
    /// The id of each single byte's symbol, −1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// (left << 32 | right) → rank and the merged id.
    let merges: [UInt64: Merge]
    /// The ids of vocabulary entries by the UTF-8 of their byte-level string (ignore_merges).
    let wholeWords: [[UInt8]: Int32]
    let addedTokens: [AddedToken]
    let addPrefixSpace: Bool
    let useRegex: Bool
    let ignoreMerges: Bool

    struct Merge: Equatable, Sendable {
        let rank: Int32
        let id: Int32
    }

    struct AddedToken: Equatable, Sendable {
        let content: [UInt32]
        let id: Int32
        /// Matched in a second pass, in the text between the non-normalized ones (as `tokenizers`).
        let normalized: Bool
    }

    /// Parses a tokenizer.json; `source` names it in errors.
    public init(json: [UInt8], source: String) throws {
        func unsupported(_ what: String) -> TokenizerFileError { .unsupported(source: source, what: what) }
        func invalid(_ why: String) -> TokenizerFileError { .invalid(source: source, reason: why) }
        // Stored as a string in checkpoints: UTF-8 only (JSON may also be UTF-16 or 32).
        guard String(validating: json, as: UTF8.self) != nil else { throw invalid("not UTF-8") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(json))
        } catch {
            throw invalid("not JSON (\(error.localizedDescription))")
        }
        guard let root = parsed as? [String: Any] else { throw invalid("not a JSON object") }
        func isAbsent(_ value: Any?) -> Bool { value == nil || value is NSNull }
        func typeName(_ value: Any?) -> String { ((value as? [String: Any])?["type"] as? String) ?? "of unknown type" }
        func flag(_ object: [String: Any], _ key: String, default fallback: Bool) throws -> Bool {
            guard let value = object[key], !(value is NSNull) else { return fallback }
            guard let bool = value as? Bool else { throw invalid("\(key) is not true or false") }
            return bool
        }

        for key in ["truncation", "padding"] where !isAbsent(root[key]) {
            throw unsupported("\(key) (it changes the ids; set it to null)")
        }
        if !isAbsent(root["normalizer"]) { throw unsupported("normalizer \(typeName(root["normalizer"]))") }
        if !isAbsent(root["post_processor"]), typeName(root["post_processor"]) != "ByteLevel" {
            throw unsupported("post-processor \(typeName(root["post_processor"])) (it adds ids)")
        }
        if !isAbsent(root["decoder"]), typeName(root["decoder"]) != "ByteLevel" {
            throw unsupported("decoder \(typeName(root["decoder"])) (byte-level BPE decodes with ByteLevel)")
        }
        var preTokenizer = root["pre_tokenizer"] as? [String: Any]
        if typeName(preTokenizer) == "Sequence", let steps = preTokenizer?["pretokenizers"] as? [[String: Any]] {
            guard steps.count == 1 else {
                throw unsupported("pre-tokenizer Sequence of \(steps.map { typeName($0) }.joined(separator: ", ")) (ByteLevel alone is)")
            }
            preTokenizer = steps[0]
        }
        guard let preTokenizer, typeName(preTokenizer) == "ByteLevel" else {
            throw unsupported(isAbsent(root["pre_tokenizer"]) ? "a missing pre-tokenizer (not byte-level)"
                                                              : "pre-tokenizer \(typeName(root["pre_tokenizer"]))")
        }
        addPrefixSpace = try flag(preTokenizer, "add_prefix_space", default: true)
        useRegex = try flag(preTokenizer, "use_regex", default: true)

        guard let model = root["model"] as? [String: Any] else { throw invalid("no model") }
        if let type = model["type"] as? String, type != "BPE" { throw unsupported("model type \(type)") }
        if let dropout = model["dropout"], !(dropout is NSNull) { throw unsupported("BPE dropout (ids would be random)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key], !(affix is NSNull), (affix as? String) != "" { throw unsupported("\(key) (not byte-level)") }
        }
        if try flag(model, "byte_fallback", default: false) { throw unsupported("byte_fallback (not byte-level)") }
        ignoreMerges = try flag(model, "ignore_merges", default: false)
        guard let vocab = model["vocab"] as? [String: Any] else { throw invalid("model.vocab is not an object of token ids") }

        // Tokens are keyed by their exact UTF-8 bytes: String equality is canonical
        // equivalence, which could merge two distinct tokens.
        var byUTF8 = [[UInt8]: Int32](minimumCapacity: vocab.count)
        var bytesByID = [Int32: [UInt8]]()
        for (token, value) in vocab {
            guard let id = value as? Int, id >= 0, id < Int(Int32.max) else { throw invalid("token \(token) has no valid id") }
            guard bytesByID[Int32(id)] == nil else { throw invalid("id \(id) is given to two tokens") }
            byUTF8[Array(token.utf8)] = Int32(id)
            bytesByID[Int32(id)] = Self.decodedBytes(of: token)
        }
        var added = [AddedToken]()
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = entry["content"] as? String, !content.isEmpty, let id = entry["id"] as? Int, id >= 0, id < Int(Int32.max) else {
                throw invalid("an added token without content or id")
            }
            for option in ["single_word", "lstrip", "rstrip"] where try flag(entry, option, default: false) {
                throw unsupported("added token \(content) with \(option)")
            }
            if let other = bytesByID[Int32(id)], other != Array(content.utf8), other != Self.decodedBytes(of: content) {
                throw invalid("id \(id) is both a vocabulary token and added token \(content)")
            }
            bytesByID[Int32(id)] = Self.decodedBytes(of: content)
            added.append(AddedToken(content: content.unicodeScalars.map(\.value), id: Int32(id),
                                    normalized: try flag(entry, "normalized", default: true)))
        }
        // Longest first: the first match at a position is the longest (leftmost-longest).
        addedTokens = added.sorted { $0.content.count > $1.content.count }

        var merges = [UInt64: Merge]()
        for (rank, entry) in (model["merges"] as? [Any] ?? []).enumerated() {
            let parts: [String]
            if let line = entry as? String {
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = entry as? [String] ?? []
            }
            guard parts.count == 2 else { throw invalid("merge \(rank) is not a pair of tokens") }
            guard let left = byUTF8[Array(parts[0].utf8)], let right = byUTF8[Array(parts[1].utf8)],
                  let result = byUTF8[Array((parts[0] + parts[1]).utf8)] else {
                throw invalid("merge \(rank) (\(parts[0]) \(parts[1])) names a token that is not in the vocabulary")
            }
            // A repeated pair keeps its last rank, as `tokenizers` builds its map.
            merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] = Merge(rank: Int32(rank), id: result)
        }
        self.merges = merges

        let size = Int(bytesByID.keys.max() ?? -1) + 1
        guard size > 0 else { throw invalid("an empty vocabulary") }
        var tokenBytes = [[UInt8]?](repeating: nil, count: size)
        for (id, bytes) in bytesByID { tokenBytes[Int(id)] = bytes }
        self.tokenBytes = tokenBytes
        tokenCharacters = tokenBytes.map { Int32($0.map(Self.characterCount) ?? 0) }
        vocabularySize = size
        byteIDs = (0..<256).map { byUTF8[Array(String(Unicode.Scalar(Self.byteSymbols[$0])!).utf8)] ?? -1 }
        wholeWords = ignoreMerges ? byUTF8 : [:]
        self.json = json
    }

    /// Reads the tokenizer.json at `path`.
    public init(path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path: path)
        } catch {
            throw TokenizerFileError.unreadable(source: path, reason: "\(error)")
        }
        try self.init(json: bytes, source: path)
    }

    // MARK: decoding

    /// The bytes of `id`, nil outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8]? {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : nil
    }

    /// The text of `ids` (the ByteLevel decoder): invalid UTF-8, e.g. of a partial sample,
    /// and unknown ids become U+FFFD.
    public func decode(_ ids: some Sequence<Int32>) -> String {
        var bytes = [UInt8]()
        var text = ""
        for id in ids {
            if let token = self.bytes(of: id) {
                bytes += token
            } else {
                text += String(decoding: bytes, as: UTF8.self) + "\u{FFFD}"
                bytes.removeAll()
            }
        }
        return text + String(decoding: bytes, as: UTF8.self)
    }

    /// Characters of the text `id` decodes to (its UTF-8 lead bytes; 0 outside the vocabulary).
    public func characters(of id: Int32) -> Int {
        id >= 0 && Int(id) < tokenCharacters.count ? Int(tokenCharacters[Int(id)]) : 0
    }

    /// Bytes that are not UTF-8 continuation bytes: the Unicode scalars of valid UTF-8.
    static func characterCount(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }

    // MARK: encoding

    /// The ids of `text`, identical to `tokenizers`' `encode(text).ids`.
    public func encode(_ text: String) throws -> [Int32] {
        var encoder = BytePairEncoder(self)
        var ids = [Int32]()
        try encoder.append(text.unicodeScalars.map(\.value), final: true) { ids.append($0) }
        return ids
    }

    /// GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the
    /// other 68 take U+0100 onwards in byte order.
    static let byteSymbols: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            table[byte] = printable ? UInt32(byte) : next
            if !printable { next += 1 }
        }
        return table
    }()

    /// The bytes a token string decodes to: each character through the table, or the
    /// string's own UTF-8 when one is outside it (an added token such as `<|endoftext|>`).
    static func decodedBytes(of token: String) -> [UInt8] {
        var bytes = [UInt8]()
        for scalar in token.unicodeScalars {
            guard let byte = symbolBytes[scalar.value] else { return Array(token.utf8) }
            bytes.append(byte)
        }
        return bytes
    }

    private static let symbolBytes: [UInt32: UInt8] = {
        var table = [UInt32: UInt8]()
        for (byte, symbol) in byteSymbols.enumerated() { table[symbol] = UInt8(byte) }
        return table
    }()
}

extension BytePairEncoding: Equatable {
    /// The same tokenizer: the same ids for every text and the same decoding, whatever the
    /// JSON's layout.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.tokenBytes == rhs.tokenBytes && lhs.merges == rhs.merges && lhs.addedTokens == rhs.addedTokens
            && lhs.addPrefixSpace == rhs.addPrefixSpace && lhs.useRegex == rhs.useRegex && lhs.ignoreMerges == rhs.ignoreMerges
    }
}

/// A tokenizer.json that cannot be used, or a text it cannot encode.
public enum TokenizerFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(source: String, reason: String)
    case invalid(source: String, reason: String)
    case unsupported(source: String, what: String)
    case missingByte(UInt8)

    public var description: String {
        switch self {
        case .unreadable(let source, let reason):
            return "cannot read tokenizer \(source): \(reason)"
        case .invalid(let source, let reason):
            return "tokenizer \(source) is not a valid tokenizer.json: \(reason)"
        case .unsupported(let source, let what):
            return "tokenizer \(source): \(what) is not supported (rnn-dist reads byte-level BPE: "
                + "model BPE, pre-tokenizer ByteLevel, no normalizer)"
        case .missingByte(let byte):
            let hex = String(byte, radix: 16, uppercase: true)
            return "the tokenizer has no token for byte 0x\(hex.count < 2 ? "0" + hex : hex) of the text "
                + "(its vocabulary lacks part of the byte-level alphabet; train it with initial_alphabet=ByteLevel.alphabet())"
        }
    }
}

extension TokenizerFileError: LocalizedError { public var errorDescription: String? { description } }
