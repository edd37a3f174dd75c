/// Turns sampled token ids into text as they come, for streaming output: a `chars` token is
/// one Unicode scalar; `bytes` tokens, and the bytes of `bpe` tokens, are held until they
/// form a complete UTF-8 sequence.
/// Invalid byte sequences become U+FFFD exactly as `Vocabulary.decode` (Swift's lossy UTF-8
/// decoding, one replacement per maximal invalid subpart), so the streamed text equals the
/// decoding of the whole token sequence.
public struct TokenTextStream {
    public let vocabulary: Vocabulary
    private var pending: [UInt8] = []
    /// Bytes the pending sequence needs in total (2…4), 0 when nothing is pending.
    private var expected = 0

    public init(vocabulary: Vocabulary) {
        self.vocabulary = vocabulary
    }

    /// The text that `id` completes (possibly empty for a partial UTF-8 sequence).
    public mutating func append(_ id: Int32) -> String {
        let valid = id >= 0 && Int(id) < vocabulary.count
        switch vocabulary.tokenizer {
        case .chars:
            guard valid, let scalar = Unicode.Scalar(vocabulary.symbols[Int(id)]) else { return "\u{FFFD}" }
            return String(Character(scalar))
        case .bytes:
            guard valid else { return flush() + "\u{FFFD}" }
            return append(byte: UInt8(truncatingIfNeeded: vocabulary.symbols[Int(id)]))
        case .bpe:
            guard let bytes = vocabulary.bytePairEncoding!.bytes(of: id) else { return flush() + "\u{FFFD}" }
            return bytes.map { append(byte: $0) }.joined()
        }
    }

    /// Whatever is still pending (an incomplete sequence becomes U+FFFD); call at the end.
    public mutating func flush() -> String {
        defer { pending.removeAll(); expected = 0 }
        return pending.isEmpty ? "" : "\u{FFFD}"
    }

    private mutating func append(byte: UInt8) -> String {
        if !pending.isEmpty {
            if continues(byte) {
                pending.append(byte)
                guard pending.count == expected else { return "" }
                let text = String(decoding: pending, as: UTF8.self)
                pending.removeAll()
                expected = 0
                return text
            }
            // The pending prefix cannot be completed: one U+FFFD, then `byte` starts afresh.
            return flush() + append(byte: byte)
        }
        switch byte {
        case 0x00...0x7F: return String(UnicodeScalar(byte))
        case 0xC2...0xDF: expected = 2
        case 0xE0...0xEF: expected = 3
        case 0xF0...0xF4: expected = 4
        default: return "\u{FFFD}"
        }
        pending = [byte]
        return ""
    }

    /// Whether `byte` extends the pending prefix toward a valid sequence (the second-byte
    /// ranges exclude overlong forms, surrogates and values above U+10FFFF).
    private func continues(_ byte: UInt8) -> Bool {
        if pending.count == 1 {
            switch pending[0] {
            case 0xE0: return (0xA0...0xBF).contains(byte)
            case 0xED: return (0x80...0x9F).contains(byte)
            case 0xF0: return (0x90...0xBF).contains(byte)
            case 0xF4: return (0x80...0x8F).contains(byte)
            default: break
            }
        }
        return (0x80...0xBF).contains(byte)
    }
}
