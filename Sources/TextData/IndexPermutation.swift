/// A pseudo-random permutation of 0 ..< count evaluated one index at a time, in O(1) memory:
/// a 4-round Feistel network on 2k-bit values (2^2k ≥ count, so at most 4·count) with
/// cycle walking (an output ≥ count is permuted again until it falls inside; the walk ends
/// because the network is a bijection on its 2^2k values). The shuffle of datasets too large
/// for a stored Fisher–Yates permutation: its memory would grow with the corpus, on every rank.
public struct IndexPermutation: Sendable {
    public let count: Int
    private let halfBits: UInt64
    private let keys: (UInt64, UInt64, UInt64, UInt64)   // a tuple: evaluating allocates nothing

    public init(count: Int, seed: UInt64, epoch: Int) {
        precondition(count >= 1, "a permutation needs at least one element")
        self.count = count
        var bits: UInt64 = 1
        while (1 << (2 * bits)) < UInt64(count) { bits += 1 }
        halfBits = bits
        var state = seed ^ (UInt64(epoch) &* 0xD6E8_FEB8_6659_FD93)
        keys = (DataRandom.splitmix64(&state), DataRandom.splitmix64(&state), DataRandom.splitmix64(&state),
                DataRandom.splitmix64(&state))
    }

    /// The element at position `index`.
    public func callAsFunction(_ index: Int) -> Int {
        precondition(index >= 0 && index < count, "index \(index) out of range 0..<\(count)")
        var value = UInt64(index)
        repeat { value = encrypt(value) } while value >= UInt64(count)
        return Int(value)
    }

    private func encrypt(_ value: UInt64) -> UInt64 {
        let mask: UInt64 = (1 << halfBits) - 1
        var left = value >> halfBits
        var right = value & mask
        for round in 0..<4 {
            let key = round == 0 ? keys.0 : round == 1 ? keys.1 : round == 2 ? keys.2 : keys.3
            var mixed = right ^ key
            mixed = (mixed ^ (mixed >> 31)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 29)) &* 0x94D0_49BB_1331_11EB
            (left, right) = (right, left ^ ((mixed ^ (mixed >> 32)) & mask))
        }
        return (left << halfBits) | right
    }
}
