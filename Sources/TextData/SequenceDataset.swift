import Buffers

/// Fixed-length training sequences cut from a token stream: sequence i covers tokens
/// [i·T, i·T + T] (T + 1 tokens; inputs are the first T, targets the last T), so
/// consecutive sequences share one boundary token and every token is a target once.
public struct SequenceDataset: Sendable {
    public let tokens: TokenSequence
    public let sequenceLength: Int

    /// N = floor((tokens − 1) / T); 0 if there are fewer than T + 1 tokens.
    public var count: Int { max(0, tokens.count - 1) / sequenceLength }

    public init(tokens: TokenSequence, sequenceLength: Int) {
        precondition(sequenceLength >= 1, "sequence length must be at least 1, got \(sequenceLength)")
        self.tokens = tokens
        self.sequenceLength = sequenceLength
    }

    public init(tokens: [Int32], sequenceLength: Int) {
        self.init(tokens: TokenSequence(tokens), sequenceLength: sequenceLength)
    }

    /// The first T tokens of sequence `index`.
    public func inputs(of index: Int) -> [Int32] {
        precondition(index >= 0 && index < count, "sequence \(index) out of range 0..<\(count)")
        return tokens.slice(index * sequenceLength ..< index * sequenceLength + sequenceLength).array
    }

    /// The last T tokens of sequence `index` (inputs shifted by one).
    public func targets(of index: Int) -> [Int32] {
        precondition(index >= 0 && index < count, "sequence \(index) out of range 0..<\(count)")
        return tokens.slice(index * sequenceLength + 1 ..< index * sequenceLength + sequenceLength + 1).array
    }

    /// Writes the listed sequences batch-major without allocating: the j-th sequence of
    /// `sequences` goes to inputs[j·T ..< j·T + T] and targets[j·T ..< j·T + T]. The buffers
    /// may be larger than needed; the rest is left untouched. Throws for a corrupted token file.
    public func fill(sequences: some Collection<Int>, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError) {
        let length = sequenceLength
        let needed = sequences.count * length
        precondition(inputs.count >= needed && targets.count >= needed,
                     "buffers of \(inputs.count)/\(targets.count) tokens cannot hold \(sequences.count) sequences of \(length)")
        let available = count
        var destination = 0
        for index in sequences {
            precondition(index >= 0 && index < available, "sequence \(index) out of range 0..<\(available)")
            // Targets are the inputs shifted by one: copy T + 1 tokens once, then shift.
            try tokens.copy(from: index * length, count: length, to: inputs.baseAddress + destination)
            (targets.baseAddress + destination).update(from: inputs.baseAddress + destination + 1, count: length - 1)
            try tokens.copy(from: index * length + length, count: 1, to: targets.baseAddress + destination + length - 1)
            destination += length
        }
    }
}
