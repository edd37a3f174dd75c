#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The generator of `synthetic:recall`: a memory test over a fixed distance.
///
/// The stream is a sequence of episodes of length L = d + k + 1 (delay d, payload k ≤ d,
/// alphabet A):
///
///     p_1 … p_k   . … .   p_1 … p_k   \n
///     payload    d − k    repeat      separator
///     (random)   fillers
///
/// Each repeat p_j stands exactly d steps after its original, and the payload is uniformly
/// random, so the only way to predict a repeat is to remember the symbol d steps back.
/// Everything except the payload is a fixed function of the position in the episode, which
/// a model learns from the separator. The best achievable loss with full memory is therefore
/// exactly
///
///     floor = k · ln(A) / (d + k + 1)   nats per token
///
/// (the k payload symbols cost ln A each and are unpredictable; the d − k fillers, k repeats
/// and the separator cost 0). A model that forgets the payload pays ln A at the repeats too.
/// Sequences that start mid-episode with h = 0 lose a little more at their start, which
/// vanishes as T grows beyond L.
public struct RecallTask: Sendable {
    public let delay: Int
    public let payload: Int
    public let alphabet: Int

    public static let filler: UInt32 = 0x2E      // "."
    public static let separator: UInt32 = 0x0A   // "\n"

    public init(delay: Int, payload: Int, alphabet: Int) {
        precondition(payload >= 1 && payload <= delay && alphabet >= 1 && alphabet <= 26,
                     "recall needs 1 ≤ payload ≤ delay and 1 ≤ alphabet ≤ 26")
        self.delay = delay
        self.payload = payload
        self.alphabet = alphabet
    }

    public var episodeLength: Int { delay + payload + 1 }

    /// k · ln(A) / (d + k + 1), see the type's comment.
    public var entropyFloor: Double { Double(payload) * log(Double(alphabet)) / Double(episodeLength) }

    /// The payload symbol `letter` (0..<alphabet) as a Unicode scalar value: "a", "b", ...
    public static func symbol(ofLetter letter: Int) -> UInt32 { 0x61 + UInt32(letter) }

    /// `count` symbols: whole episodes from the start, the last one cut off.
    public func generate(count: Int, generator: inout DataRandom) -> [UInt32] {
        var symbols = [UInt32]()
        symbols.reserveCapacity(count + episodeLength)
        var letters = [UInt32](repeating: 0, count: payload)
        while symbols.count < count {
            for j in 0..<payload { letters[j] = Self.symbol(ofLetter: generator.nextInt(below: alphabet)) }
            symbols.append(contentsOf: letters)
            symbols.append(contentsOf: repeatElement(Self.filler, count: delay - payload))
            symbols.append(contentsOf: letters)
            symbols.append(Self.separator)
        }
        return Array(symbols.prefix(count))
    }
}
