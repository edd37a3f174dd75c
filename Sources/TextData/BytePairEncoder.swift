/// Encodes a text given piece by piece (`prepare` reads 1 MiB at a time) into exactly the
/// ids of the whole text encoded at once: a merge never crosses a pre-token, so each call
/// encodes up to a pre-token boundary that later text cannot move and keeps the rest.
/// Words already seen come from a cache (most of a text's words repeat).
public struct BytePairEncoder {
    public let encoding: BytePairEncoding
    /// Text not encoded yet: it starts at a pre-token boundary.
    private var carry: [UInt32] = []
    /// Whether `carry` starts a segment (the text's start or just after an added token),
    /// where add_prefix_space puts its space.
    private var carryStartsSegment = true
    private var cache: [[UInt8]: [Int32]] = [:]
    private var word: [UInt8] = []
    private var symbols: [Int32] = []
    private var ranks: [Int32] = []
    /// Beyond this many cached words the cache starts afresh (bounded memory on any corpus).
    static let cacheLimit = 1 << 18
    /// Characters of look-ahead the GPT-2 pattern needs beyond a pre-token (a contraction: 3).
    static let lookahead = 4

    public init(_ encoding: BytePairEncoding) {
        self.encoding = encoding
        longestAddedToken = encoding.addedTokens.map(\.content.count).max() ?? 0
    }

    private let longestAddedToken: Int

    /// Starts a new text, keeping the cache of words.
    public mutating func restart() {
        carry = []
        carryStartsSegment = true
    }

    /// Encodes `scalars` (Unicode scalar values) after what earlier calls kept, calling `emit`
    /// with each id; `final` encodes everything (the end of the text).
    public mutating func append(_ scalars: [UInt32], final: Bool, emit: (Int32) throws -> Void) throws {
        // Without the regex and added tokens the text is one word: nothing can be encoded
        // before its end (and re-splitting a growing carry would take quadratic time).
        if !final && !encoding.useRegex && encoding.addedTokens.isEmpty { return carry += scalars }
        let text = carry + scalars
        // Ids before `limit` cannot depend on text not read yet: no added token starting
        // before it reaches past the end, no pre-token ending before it looks past the end.
        let limit = final ? text.count : text.count - longestAddedToken - Self.lookahead
        var position = 0
        var startsSegment = carryStartsSegment
        for piece in split(text) {
            switch piece {
            case .added(let start, let length, let id):
                guard final || start < limit else { return keep(text, from: position, startsSegment: startsSegment) }
                try emit(id)
                position = start + length
                startsSegment = true
            case .text(let start, let end):
                let (encodedTo, encodedAny) = try encodeSegment(text, start..<end, prefixed: startsSegment,
                                                                upTo: final ? nil : limit, emit: emit)
                if encodedTo < end { return keep(text, from: encodedTo, startsSegment: startsSegment && !encodedAny) }
                position = end
                startsSegment = false
            }
        }
        keep(text, from: text.count, startsSegment: startsSegment)
    }

    private mutating func keep(_ text: [UInt32], from start: Int, startsSegment: Bool) {
        carry = Array(text[start...])
        carryStartsSegment = startsSegment
    }

    enum Piece: Equatable {
        case text(Int, Int)
        case added(Int, length: Int, id: Int32)
    }

    /// The text split at added tokens: leftmost-longest matches of the non-normalized ones,
    /// then of the normalized ones in the text between (`tokenizers`' two passes).
    func split(_ text: [UInt32]) -> [Piece] {
        guard !encoding.addedTokens.isEmpty else { return text.isEmpty ? [] : [.text(0, text.count)] }
        var pieces: [Piece] = [.text(0, text.count)]
        for normalized in [false, true] {
            let tokens = encoding.addedTokens.filter { $0.normalized == normalized }
            guard !tokens.isEmpty else { continue }
            pieces = pieces.flatMap { piece -> [Piece] in
                guard case .text(let start, let end) = piece else { return [piece] }
                var result = [Piece]()
                var gap = start
                var index = start
                while index < end {
                    if let token = tokens.first(where: { index + $0.content.count <= end && text[index..<index + $0.content.count].elementsEqual($0.content) }) {
                        if gap < index { result.append(.text(gap, index)) }
                        result.append(.added(index, length: token.content.count, id: token.id))
                        index += token.content.count
                        gap = index
                    } else {
                        index += 1
                    }
                }
                if gap < end { result.append(.text(gap, end)) }
                return result
            }
        }
        return pieces
    }

    /// Encodes the pre-tokens of `text[range]` that end at or before `limit` (all when nil);
    /// returns where encoding stopped (a pre-token boundary) and whether anything was encoded.
    private mutating func encodeSegment(_ text: [UInt32], _ range: Range<Int>, prefixed: Bool, upTo limit: Int?,
                                        emit: (Int32) throws -> Void) throws -> (Int, Bool) {
        // add_prefix_space: a space before the segment unless it starts with one.
        let shift = prefixed && encoding.addPrefixSpace && text[range.lowerBound] != 0x20 ? 1 : 0
        let work = shift == 1 ? [0x20] + text[range] : Array(text[range])
        let end = limit.map { min(work.count, $0 - range.lowerBound + shift) } ?? work.count
        var start = 0
        var stoppedAt = 0
        try work.withUnsafeBufferPointer { work in
            while start < work.count {
                let next = encoding.useRegex ? PreTokenizer.end(of: work, from: start) : work.count
                guard next <= end, limit == nil || next < work.count else { break }
                try encodeWord(work[start..<next], emit: emit)
                start = next
                stoppedAt = next
            }
        }
        // The inserted space belongs to the first pre-token.
        return (range.lowerBound + max(0, stoppedAt - shift), stoppedAt > 0)
    }

    /// One pre-token: its UTF-8 bytes, then the merges.
    private mutating func encodeWord(_ scalars: Slice<UnsafeBufferPointer<UInt32>>, emit: (Int32) throws -> Void) throws {
        word.removeAll(keepingCapacity: true)
        for value in scalars {
            switch value {
            case 0..<0x80: word.append(UInt8(value))
            case 0x80..<0x800: word += [UInt8(0xC0 | value >> 6), UInt8(0x80 | value & 0x3F)]
            case 0x800..<0x10000: word += [UInt8(0xE0 | value >> 12), UInt8(0x80 | value >> 6 & 0x3F), UInt8(0x80 | value & 0x3F)]
            default: word += [UInt8(0xF0 | value >> 18), UInt8(0x80 | value >> 12 & 0x3F), UInt8(0x80 | value >> 6 & 0x3F), UInt8(0x80 | value & 0x3F)]
            }
        }
        if let ids = cache[word] {
            for id in ids { try emit(id) }
            return
        }
        let ids = try merge(word)
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[word] = ids
        for id in ids { try emit(id) }
    }

    /// The merges of `bytes`: repeatedly the adjacent pair of lowest rank, the leftmost of
    /// equal ranks, one merge at a time (a merge can make a pair of lower rank than others
    /// already present, so "all occurrences of a pair at once" would differ).
    mutating func merge(_ bytes: [UInt8]) throws -> [Int32] {
        if encoding.ignoreMerges {
            let spelled = bytes.flatMap { Array(String(Unicode.Scalar(BytePairEncoding.byteSymbols[Int($0)])!).utf8) }
            if let id = encoding.wholeWords[spelled] { return [id] }
        }
        symbols.removeAll(keepingCapacity: true)
        for byte in bytes {
            let id = encoding.byteIDs[Int(byte)]
            guard id >= 0 else { throw TokenizerFileError.missingByte(byte) }
            symbols.append(id)
        }
        func rank(_ index: Int) -> Int32 {
            encoding.merges[UInt64(UInt32(symbols[index])) << 32 | UInt64(UInt32(symbols[index + 1]))]?.rank ?? .max
        }
        ranks.removeAll(keepingCapacity: true)
        for index in 0..<max(0, symbols.count - 1) { ranks.append(rank(index)) }
        while let best = ranks.indices.min(by: { ranks[$0] < ranks[$1] }), ranks[best] != .max {
            let key = UInt64(UInt32(symbols[best])) << 32 | UInt64(UInt32(symbols[best + 1]))
            symbols[best] = encoding.merges[key]!.id
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best < ranks.count { ranks[best] = rank(best) }
            if best > 0 { ranks[best - 1] = rank(best - 1) }
        }
        return symbols
    }
}

/// GPT-2's split pattern, the ByteLevel pre-tokenizer of `tokenizers`, by hand:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// alternatives tried in order at each position, the first that matches taken.
enum PreTokenizer {
    enum Class { case letter, number, space, other }

    /// \s as Oniguruma reads it: U+0009–U+000D, U+0085 and the Zs, Zl, Zp categories.
    static func classify(_ value: UInt32) -> Class {
        if value < 0x80 { return ascii[Int(value)] }
        if value == 0x85 { return .space }
        guard let scalar = Unicode.Scalar(value) else { return .other }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: return .space
        default: return .other
        }
    }

    private static let ascii: [Class] = (0..<128).map { value in
        switch UInt8(value) {
        case 0x09...0x0D, 0x20: return .space
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: return .other
        }
    }

    /// Where the pre-token starting at `start` ends (`start` < `text.count`).
    static func end(of text: UnsafeBufferPointer<UInt32>, from start: Int) -> Int {
        let count = text.count
        if text[start] == 0x27, start + 1 < count {   // ' then a contraction, case-sensitive
            let next = text[start + 1]
            if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 { return start + 2 }   // s t m d
            if start + 2 < count {
                let third = text[start + 2]
                if (next == 0x72 && third == 0x65) || (next == 0x76 && third == 0x65) || (next == 0x6C && third == 0x6C) {
                    return start + 3   // re ve ll
                }
            }
        }
        let body = text[start] == 0x20 && start + 1 < count ? start + 1 : start
        let kind = classify(text[body])
        if kind != .space && (body == start + 1 || text[start] != 0x20) {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the run of one class.
            var end = body + 1
            while end < count && classify(text[end]) == kind { end += 1 }
            return end
        }
        // Whitespace: the run, less its last character when a non-space follows (that
        // character then leads the next pre-token), but never less than one character.
        var end = start + 1
        while end < count && classify(text[end]) == .space { end += 1 }
        return end < count && end - start > 1 ? end - 1 : end
    }
}
