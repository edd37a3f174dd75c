/// The 64-bit checksum of token files and corpora ("fold64"): the bytes are read as
/// little-endian 64-bit words (the last one zero-padded), each folded into the state by
/// h = rotl((h ^ w) · P, 31); at the end the byte count is mixed in and a final avalanche
/// spreads every bit (docs/data.md gives the constants).
/// For a fixed word, h ↦ rotl((h ^ w) · P, 31) is a bijection (P is odd), and so is w ↦ the
/// next state for a fixed h: changing any single word, or the length, always changes the
/// result. One multiply per 8 bytes: several GB/s, so `prepare` is not slowed by it.
public struct TokenChecksum: Sendable, Equatable {
    private static let prime: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let mixer: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private var state: UInt64 = 0x2545_F491_4F6C_DD1D
    private var pending: UInt64 = 0
    private var pendingBytes = 0
    private var length: UInt64 = 0

    public init() {}

    /// The checksum of `bytes` alone.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var checksum = TokenChecksum()
        checksum.update(bytes)
        return checksum.value
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        var count = bytes.count
        length &+= UInt64(count)
        while pendingBytes > 0 && count > 0 {   // complete a word begun by the previous call
            pushByte(base.load(as: UInt8.self))
            base += 1
            count -= 1
        }
        var h = state
        let words = count / 8
        for index in 0..<words {
            h = ((h ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))) &* Self.prime)
            h = (h << 31) | (h >> 33)
        }
        state = h
        base += words * 8
        for index in 0..<(count - words * 8) { pushByte(base.load(fromByteOffset: index, as: UInt8.self)) }
    }

    private mutating func pushByte(_ byte: UInt8) {
        pending |= UInt64(byte) << (8 * UInt64(pendingBytes))
        pendingBytes += 1
        if pendingBytes == 8 { fold(pending); pending = 0; pendingBytes = 0 }
    }

    private mutating func fold(_ word: UInt64) {
        let h = (state ^ word) &* Self.prime
        state = (h << 31) | (h >> 33)
    }

    public var value: UInt64 {
        var copy = self
        if copy.pendingBytes > 0 { copy.fold(copy.pending) }
        var h = copy.state ^ (length &* Self.mixer)
        h ^= h >> 33; h &*= Self.mixer; h ^= h >> 29; h &*= Self.prime; h ^= h >> 32
        return h
    }

    /// 16 hexadecimal digits, as stored in checkpoints and printed in messages.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
