import Buffers

/// Truncated BPTT (docs/design.md §6): the training text laid out as G parallel streams; stream j
/// covers tokens [j·S, j·S + S] with S = ⌊(L − 1)/G⌋, and is read k tokens at a time. Step s
/// reads chunk c = s mod C of every stream (C = ⌊S/k⌋ chunks per epoch). The hidden state
/// carries over from one chunk to the next without gradient, and starts from zero at c = 0,
/// i.e. at each epoch. Ranks take contiguous slices of the streams, like sequence batches.
package final class StreamBatches {
    package let tokens: TokenSequence
    package let streamCount: Int
    package let chunkLength: Int
    package let streamLength: Int
    package let chunksPerEpoch: Int
    package let streams: Range<Int>
    package private(set) var lastIndices: [Int]

    package init(tokens: TokenSequence, streamCount: Int, chunkLength: Int, streams: Range<Int>) throws {
        self.tokens = tokens
        self.streamCount = streamCount
        self.chunkLength = chunkLength
        streamLength = max(0, tokens.count - 1) / streamCount
        chunksPerEpoch = streamLength / chunkLength
        self.streams = streams
        lastIndices = Array(streams)
        guard chunksPerEpoch >= 1 else {
            throw CorpusError.tooShortForStreams(tokens: tokens.count, streams: streamCount, chunkLength: chunkLength)
        }
    }

    package var maxBatchSize: Int { streams.count }
    package func epoch(ofStep step: Int) -> Int { step / chunksPerEpoch }
    package func chunk(ofStep step: Int) -> Int { step % chunksPerEpoch }

    /// How many streams `rank` of `ranks` holds (the sampler's contiguous slicing).
    package func rangeCount(rank: Int, ranks: Int, streams: Int) -> Int { streams / ranks + (rank < streams % ranks ? 1 : 0) }

    package func fill(step: Int, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError) -> (batchSize: Int, resetsHidden: Bool) {
        let chunk = self.chunk(ofStep: step)
        for (row, stream) in streams.enumerated() {
            let start = stream * streamLength + chunk * chunkLength
            try tokens.copy(from: start, count: chunkLength, to: inputs.baseAddress + row * chunkLength)
            try tokens.copy(from: start + 1, count: chunkLength, to: targets.baseAddress + row * chunkLength)
        }
        return (streams.count, chunk == 0)
    }
}
