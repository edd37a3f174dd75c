#if canImport(Glibc)
import Glibc
#endif

/// xoshiro256** seeded through splitmix64; its state is public so checkpoints can store and
/// restore it. Same seed, same stream, on every platform and rank.
public struct SeededGenerator: RandomNumberGenerator, Codable, Sendable, Equatable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        // splitmix64 spreads any seed (0 included) over the 256-bit state, never all zeros.
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    public var state: [UInt64] { [s0, s1, s2, s3] }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "SeededGenerator state has 4 words, got \(state.count)")
        precondition(state.contains { $0 != 0 }, "SeededGenerator state must not be all zeros")
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// N(0, 1) by Box–Muller. One draw per call (the second value is discarded) so the whole
    /// generator state stays in `state` and a restored generator continues identically.
    public mutating func nextGaussian() -> Double {
        let u1 = 1.0 - nextUniform()          // (0, 1]: log is finite
        let u2 = nextUniform()
        return (-2.0 * Glibc.log(u1)).squareRoot() * Glibc.cos(2.0 * Double.pi * u2)
    }

    // Codable as the plain state array, the form checkpoints store.
    public init(from decoder: Decoder) throws {
        let words = try decoder.singleValueContainer().decode([UInt64].self)
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "SeededGenerator state must be 4 words, not all zero"))
        }
        self.init(state: words)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(state)
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
