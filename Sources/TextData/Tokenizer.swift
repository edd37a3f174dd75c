/// How text becomes tokens: `chars` = Unicode scalars (the file must be valid UTF-8),
/// `bytes` = raw bytes (any file), `bpe` = a byte-level BPE's subwords (the vocabulary
/// carries its tokenizer.json: `prepare --tokenizer FILE.json`).
public enum Tokenizer: String, Codable, CaseIterable, Sendable {
    case chars
    case bytes
    case bpe

    /// The symbols of `bytes`: scalar values for `chars`, byte values for `bytes`.
    /// `source` names the input in the error for invalid UTF-8.
    /// For `bpe`, the scalars, which its vocabulary then encodes.
    public func symbols(of bytes: [UInt8], source: String) throws -> [UInt32] {
        switch self {
        case .bytes:
            return bytes.map { UInt32($0) }
        case .chars, .bpe:
            return try Self.decodeUTF8(bytes, source: source)
        }
    }

    /// The largest symbol value this tokenizer can produce (a BPE's symbols are its ids).
    public var maximumSymbol: UInt32 {
        switch self {
        case .chars: return 0x10FFFF
        case .bytes: return 0xFF
        case .bpe: return UInt32(Int32.max)
        }
    }

    /// Its code in token files.
    var code: UInt8 {
        switch self {
        case .chars: return 0
        case .bytes: return 1
        case .bpe: return 2
        }
    }

    /// Strict UTF-8 decoding that reports the byte offset of the first invalid sequence
    /// (overlong forms, surrogates and values above U+10FFFF are invalid), which Swift's
    /// lossy `String(decoding:)` would silently replace.
    package static func decodeUTF8(_ bytes: [UInt8], source: String) throws -> [UInt32] {
        var scalars = [UInt32]()
        scalars.reserveCapacity(bytes.count)
        try bytes.withUnsafeBufferPointer { input in
            let count = input.count
            var index = 0
            while index < count {
                let lead = input[index]
                if lead < 0x80 {
                    scalars.append(UInt32(lead))
                    index += 1
                    continue
                }
                let length: Int
                var value: UInt32
                let minimum: UInt32
                switch lead {
                case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F); minimum = 0x80
                case 0xE0...0xEF: length = 3; value = UInt32(lead & 0x0F); minimum = 0x800
                case 0xF0...0xF4: length = 4; value = UInt32(lead & 0x07); minimum = 0x10000
                default: throw CorpusError.invalidUTF8(path: source, offset: index)
                }
                guard index + length <= count else { throw CorpusError.invalidUTF8(path: source, offset: index) }
                for continuation in 1..<length {
                    let byte = input[index + continuation]
                    guard byte & 0xC0 == 0x80 else { throw CorpusError.invalidUTF8(path: source, offset: index) }
                    value = (value << 6) | UInt32(byte & 0x3F)
                }
                guard value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else {
                    throw CorpusError.invalidUTF8(path: source, offset: index)
                }
                scalars.append(value)
                index += length
            }
        }
        return scalars
    }
}
