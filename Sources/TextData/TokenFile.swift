import FileIO

/// A prepared corpus (DESIGN §3, docs/data.md): a header, then the token ids little-endian
/// at 1, 2 or 4 bytes each. All header integers are little-endian. Format 2:
///
///     offset  bytes  field
///          0      8  magic 89 52 4E 4E 54 4F 4B 0A ("\x89RNNTOK\n")
///          8      4  format version (2)
///         12      4  header size H: where the ids start (a multiple of 64)
///         16      1  token width w: 1, 2 or 4
///         17      1  tokenizer: 0 chars, 1 bytes, 2 bpe
///         18      2  zero
///         20      4  vocabulary size V
///         24      8  token count N
///         32      8  validation start S: tokens [0, S) train, [S, N) validate
///         40      8  data checksum: TokenChecksum of the N·w id bytes
///         48      8  header checksum: TokenChecksum of bytes [0, H) with this field zero
///         56      8  characters of the text of tokens [0, S) (all ones: unknown)
///         64      8  characters of the text of tokens [S, N) (all ones: unknown)
///         72      4  tokenizer.json length L (bpe; else 0)
///         76     52  zero
///        128  4V | L chars and bytes: the vocabulary's symbols (u32, strictly increasing);
///                    bpe: the tokenizer.json, whose ids are the token ids
///                    zero padding up to H
///          H    N·w  the token ids
///
/// Format 1 (still read) has no bytes 64–127: its symbols start at 64, and it records no
/// characters. The file is exactly H + N·w bytes, so a truncated file is caught by its size alone.
public struct TokenFileHeader: Equatable, Sendable {
    public static let magic: [UInt8] = [0x89, 0x52, 0x4E, 0x4E, 0x54, 0x4F, 0x4B, 0x0A]
    public static let version: UInt32 = 2
    /// Where the vocabulary starts in each format.
    static func fixedSize(version: UInt32) -> Int { version == 1 ? 64 : 128 }

    public var vocabulary: Vocabulary
    public var width: TokenWidth
    public var tokenCount: Int
    public var validationStart: Int
    public var dataChecksum: UInt64
    /// Characters of the text of each split, nil when unknown (format 1 with bytes).
    public var characters: CharacterCounts?
    /// The format the header is read from or written in.
    public var version: UInt32

    public init(vocabulary: Vocabulary, width: TokenWidth, tokenCount: Int, validationStart: Int, dataChecksum: UInt64,
                characters: CharacterCounts? = nil, version: UInt32 = TokenFileHeader.version) {
        self.vocabulary = vocabulary
        self.width = width
        self.tokenCount = tokenCount
        self.validationStart = validationStart
        self.dataChecksum = dataChecksum
        self.characters = characters
        self.version = version
    }

    /// What follows the fixed part: the symbols, or the tokenizer.json of a BPE.
    private var vocabularyBytes: Int {
        vocabulary.bytePairEncoding.map(\.json.count) ?? 4 * vocabulary.count
    }

    /// H: the fixed part and the vocabulary, rounded up to 64 bytes.
    public var size: Int { (Self.fixedSize(version: version) + vocabularyBytes + 63) / 64 * 64 }
    public var fileSize: Int { size + tokenCount * width.rawValue }

    /// The H header bytes, checksum included. `width` need not fit the vocabulary (tests
    /// write such files on purpose; `prepare` never does), and format 1 is written for the
    /// tests of old files (never a BPE).
    package func encoded() -> [UInt8] {
        precondition(version == 2 || (version == 1 && vocabulary.tokenizer != .bpe), "format \(version) cannot hold this vocabulary")
        var bytes = [UInt8](repeating: 0, count: size)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[offset + i] = byte } }
        }
        bytes.replaceSubrange(0..<8, with: Self.magic)
        put(version, at: 8)
        put(UInt32(size), at: 12)
        bytes[16] = UInt8(width.rawValue)
        bytes[17] = vocabulary.tokenizer.code
        put(UInt32(vocabulary.count), at: 20)
        put(UInt64(tokenCount), at: 24)
        put(UInt64(validationStart), at: 32)
        put(dataChecksum, at: 40)
        let start = Self.fixedSize(version: version)
        if version >= 2 {
            put(characters.map { UInt64($0.train) } ?? .max, at: 56)
            put(characters.map { UInt64($0.validation) } ?? .max, at: 64)
        }
        if let encoding = vocabulary.bytePairEncoding {
            put(UInt32(encoding.json.count), at: 72)
            bytes.replaceSubrange(start..<start + encoding.json.count, with: encoding.json)
        } else {
            for (index, symbol) in vocabulary.symbols.enumerated() { put(symbol, at: start + 4 * index) }
        }
        put(bytes.withUnsafeBytes { TokenChecksum.of($0) }, at: 48)
        return bytes
    }

    /// Whether the file at `path` starts with the magic bytes (false if it cannot be read:
    /// the text reader then reports the problem).
    public static func isTokenFile(path: String) -> Bool {
        guard let mapping = try? MappedFile(path: path), mapping.size >= magic.count else { return false }
        return Array(mapping.bytes(0, magic.count)) == magic
    }

    /// Parses and checks the header at the start of `bytes`, a file of `bytes.count` bytes.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> TokenFileHeader {
        func bad(_ reason: String) -> TokenFileError { .invalid(path: path, reason: reason) }
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw bad("not a token file (wrong magic bytes)")
        }
        guard bytes.count >= 64 else { throw bad("truncated: \(bytes.count) bytes, shorter than a header") }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        let version = get(8, UInt32.self)
        guard version == 1 || version == Self.version else {
            throw bad("token file format version \(version); this rnn-dist reads versions 1 and \(Self.version)")
        }
        let fixedSize = Self.fixedSize(version: version)
        guard bytes.count >= fixedSize else { throw bad("truncated: \(bytes.count) bytes, shorter than a header") }
        let headerSize = Int(get(12, UInt32.self))
        let vocabularySize = Int(get(20, UInt32.self))
        guard bytes[17] <= 2, version >= 2 || bytes[17] <= 1 else { throw bad("unknown tokenizer code \(bytes[17])") }
        let tokenizer: Tokenizer = bytes[17] == 0 ? .chars : bytes[17] == 1 ? .bytes : .bpe
        let jsonLength = version >= 2 ? Int(get(72, UInt32.self)) : 0
        let vocabularyBytes = tokenizer == .bpe ? jsonLength : 4 * vocabularySize
        guard headerSize % 64 == 0, headerSize == (fixedSize + vocabularyBytes + 63) / 64 * 64,
              tokenizer == .bpe || jsonLength == 0 else {
            throw bad("corrupted header (header size \(headerSize) does not match a vocabulary of \(vocabularySize))")
        }
        guard bytes.count >= headerSize else { throw bad("truncated: \(bytes.count) bytes, shorter than its \(headerSize)-byte header") }
        var zeroed = Array(bytes[0..<headerSize])
        for offset in 48..<56 { zeroed[offset] = 0 }
        guard zeroed.withUnsafeBytes({ TokenChecksum.of($0) }) == get(48, UInt64.self) else {
            throw bad("corrupted header (checksum mismatch)")
        }
        guard let width = TokenWidth(rawValue: Int(bytes[16])) else { throw bad("token width \(bytes[16]) is not 1, 2 or 4") }
        guard vocabularySize >= 1, vocabularySize <= width.maximumVocabulary else {
            throw bad("a vocabulary of \(vocabularySize) symbols does not fit its token width of \(width.rawValue) byte\(width == .one ? "" : "s")")
        }
        let vocabulary: Vocabulary
        if tokenizer == .bpe {
            let encoding: BytePairEncoding
            do {
                encoding = try BytePairEncoding(json: Array(bytes[fixedSize..<fixedSize + jsonLength]), source: "stored in \(path)")
            } catch {
                throw bad("corrupted tokenizer (\(error))")
            }
            guard encoding.vocabularySize == vocabularySize else {
                throw bad("corrupted header (a vocabulary of \(vocabularySize) where its tokenizer has \(encoding.vocabularySize))")
            }
            vocabulary = Vocabulary(bytePairEncoding: encoding)
        } else {
            let symbols = (0..<vocabularySize).map { get(fixedSize + 4 * $0, UInt32.self) }
            guard zip(symbols, symbols.dropFirst()).allSatisfy({ $0 < $1 }), symbols.last! <= tokenizer.maximumSymbol else {
                throw bad("corrupted vocabulary (symbols not increasing or out of range)")
            }
            vocabulary = try Vocabulary(tokenizer: tokenizer, sortedSymbols: symbols)
        }
        let tokenCount = get(24, UInt64.self)
        let validationStart = get(32, UInt64.self)
        // Int.max / 8: tokens × 4 bytes + the header must not overflow the file size.
        guard tokenCount <= UInt64(Int.max / 8), validationStart <= tokenCount else {
            throw bad("corrupted header (validation start \(validationStart) beyond \(tokenCount) tokens)")
        }
        var characters: CharacterCounts?
        if version >= 2 {
            let train = get(56, UInt64.self), validation = get(64, UInt64.self)
            if train != .max && validation != .max {
                guard train <= UInt64(Int.max), validation <= UInt64(Int.max) else { throw bad("corrupted header (character counts)") }
                characters = CharacterCounts(train: Int(train), validation: Int(validation))
            }
        } else if tokenizer == .chars {
            characters = CharacterCounts(train: Int(validationStart), validation: Int(tokenCount - validationStart))
        }
        let header = TokenFileHeader(vocabulary: vocabulary, width: width, tokenCount: Int(tokenCount),
                                     validationStart: Int(validationStart), dataChecksum: get(40, UInt64.self),
                                     characters: characters, version: version)
        guard bytes.count == header.fileSize else {
            throw bad("\(bytes.count) bytes where its header promises \(header.fileSize) "
                + "(\(header.tokenCount) tokens of \(width.rawValue) byte\(width == .one ? "" : "s")): "
                + (bytes.count < header.fileSize ? "truncated" : "trailing bytes"))
        }
        return header
    }
}

/// Characters of the text behind each split of a corpus (UTF-8 lead bytes: the Unicode
/// scalars of valid text), so that a loss per token converts to a loss per character.
public struct CharacterCounts: Equatable, Sendable {
    public let train: Int
    public let validation: Int

    public init(train: Int, validation: Int) {
        self.train = train
        self.validation = validation
    }
}

/// A token file mapped read-only: its header checked, its ids a `TokenSequence` that reads
/// the shared page cache (nothing is copied).
public struct TokenFile: Sendable {
    /// Data up to this size is checksummed at open (milliseconds); larger files only by
    /// `rnn-dist prepare --verify`, so that start-up does not read gigabytes.
    public static let verifyAtOpenLimit = 16 << 20

    public let path: String
    public let header: TokenFileHeader
    public let tokens: TokenSequence

    /// Maps `path`, checks magic, version, header checksum, the vocabulary against the token
    /// width and the exact size; `verifyData` (default: for small files) checks the data too.
    public init(path: String, verifyData: Bool? = nil) throws {
        let mapping: MappedFile
        do {
            mapping = try MappedFile(path: path)
        } catch FileIOError.notFound {
            throw CorpusError.missing(path: path)
        } catch FileIOError.unreadable(_, let reason) {
            throw CorpusError.unreadable(path: path, reason: reason)
        }
        header = try TokenFileHeader.decode(mapping.bytes(0, mapping.size), path: path)
        self.path = path
        tokens = TokenSequence(storage: TokenStorage(mapping: mapping, offset: header.size, width: header.width,
                                                     count: header.tokenCount, vocabularySize: header.vocabulary.count))
        if verifyData ?? (header.tokenCount * header.width.rawValue <= Self.verifyAtOpenLimit) {
            try verify()
        }
        tokens.storage.advise(.random)
    }

    /// Checks the data checksum and that every id is inside the vocabulary (reads the whole
    /// file; `progress` receives the fraction done).
    public func verify(progress: (Double) -> Void = { _ in }) throws {
        let width = header.width.rawValue
        let base = tokens.storage.base
        tokens.storage.advise(.sequential)
        defer { tokens.storage.advise(.random) }
        var checksum = TokenChecksum()
        let chunk = 1 << 24
        var start = 0
        var largest: UInt32 = 0
        while start < header.tokenCount {
            let n = min(chunk, header.tokenCount - start)
            checksum.update(UnsafeRawBufferPointer(start: base + start * width, count: n * width))
            switch header.width {
            case .one: for i in 0..<n { largest = max(largest, UInt32(base.load(fromByteOffset: start + i, as: UInt8.self))) }
            case .two: for i in 0..<n { largest = max(largest, UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: (start + i) * 2, as: UInt16.self)))) }
            case .four: for i in 0..<n { largest = max(largest, UInt32(littleEndian: base.loadUnaligned(fromByteOffset: (start + i) * 4, as: UInt32.self))) }
            }
            start += n
            progress(Double(start) / Double(header.tokenCount))
        }
        guard checksum.value == header.dataChecksum else {
            throw TokenFileError.invalid(path: path, reason: "corrupted token data (checksum \(TokenChecksum.hex(checksum.value)), "
                + "header says \(TokenChecksum.hex(header.dataChecksum)))")
        }
        guard header.tokenCount == 0 || Int(largest) < header.vocabulary.count else {
            throw TokenFileError.invalid(path: path, reason: "corrupted token data (id \(largest) outside the vocabulary of \(header.vocabulary.count))")
        }
    }

    public var train: TokenSequence { tokens.slice(0..<header.validationStart) }
    public var validation: TokenSequence { tokens.slice(header.validationStart..<header.tokenCount) }
}

/// A token file that cannot be used.
public enum TokenFileError: Error, Equatable, CustomStringConvertible {
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let path, let reason): return "token file \(path): \(reason)"
        }
    }
}
