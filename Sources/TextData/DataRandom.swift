import Foundation
/// The seeded random generator of the data pipeline (shuffling, synthetic corpora):
/// xoshiro256** seeded through splitmix64.
///
/// Why our own: the stream must be identical on every rank, across runs, platforms and Swift
/// versions, and its state must be savable in a checkpoint. The standard library's generator
/// is neither seedable nor stable, and its `random(in:)` algorithms may change between
/// releases, so bounded integers and doubles are derived here too.
public struct DataRandom: RandomNumberGenerator, Codable, Equatable, Sendable {
    public private(set) var s0: UInt64
    public private(set) var s1: UInt64
    public private(set) var s2: UInt64
    public private(set) var s3: UInt64

    /// A generator whose whole state is derived from `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        s0 = Self.splitmix64(&mixer)
        s1 = Self.splitmix64(&mixer)
        s2 = Self.splitmix64(&mixer)
        s3 = Self.splitmix64(&mixer)
    }

    /// An independent stream for (seed, stream), e.g. the shuffle of one epoch: the stream
    /// number is mixed into the seed so that neighbouring epochs are unrelated.
    public init(seed: UInt64, stream: UInt64) {
        var mixer = stream &* 0x9E37_79B9_7F4A_7C15
        self.init(seed: seed ^ Self.splitmix64(&mixer))
    }

    package static func splitmix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(by: 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(by: 45)
        return result
    }

    /// Uniform in 0..<bound, unbiased (Lemire's multiply-and-reject method).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A compact text form of the state for checkpoint metadata: four 16-digit hex words.
    public var serialized: String {
        [s0, s1, s2, s3].map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined(separator: ":")
    }

    /// Restores a state written by `serialized`.
    public init(serialized: String) throws {
        let words = serialized.split(separator: ":", omittingEmptySubsequences: false).map { UInt64($0, radix: 16) }
        guard words.count == 4, let a = words[0], let b = words[1], let c = words[2], let d = words[3],
              a | b | c | d != 0 else {
            throw DataRandomError.invalidState(serialized)
        }
        (s0, s1, s2, s3) = (a, b, c, d)
    }
}

/// A random-generator state that could not be restored.
public enum DataRandomError: Error, Equatable, CustomStringConvertible {
    case invalidState(String)

    public var description: String {
        switch self {
        case .invalidState(let text):
            return "invalid random generator state '\(text)': expected four hex words separated by ':', not all zero"
        }
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(by amount: UInt64) -> UInt64 {
        (self << amount) | (self >> (64 - amount))
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension DataRandomError: LocalizedError { public var errorDescription: String? { description } }
