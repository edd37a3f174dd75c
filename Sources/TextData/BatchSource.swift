import Buffers

/// Where a rank's batch of each step comes from: whole sequences (full BPTT) or the next
/// chunk of parallel streams (truncated BPTT, docs/design.md §6). The two kinds are closed:
/// what differs between them is a switch here, not a downcast at the use site.
package enum BatchSource {
    case sequences(SequenceBatches)
    case streams(StreamBatches)

    /// Largest number of sequences this rank ever gets in one step.
    package var maxBatchSize: Int {
        switch self {
        case .sequences(let s): s.maxBatchSize
        case .streams(let s): s.maxBatchSize
        }
    }

    /// Time steps per sequence or chunk.
    package var sequenceLength: Int {
        switch self {
        case .sequences(let s): s.dataset.sequenceLength
        case .streams(let s): s.chunkLength
        }
    }

    /// Global steps per epoch.
    package var stepsPerEpoch: Int {
        switch self {
        case .sequences(let s): s.sampler.stepsPerEpoch
        case .streams(let s): s.chunksPerEpoch
        }
    }

    package func epoch(ofStep step: Int) -> Int {
        switch self {
        case .sequences(let s): s.sampler.epoch(ofStep: step)
        case .streams(let s): s.epoch(ofStep: step)
        }
    }

    /// Fills this rank's inputs and targets (batch-major) for `step`; returns how many
    /// sequences it wrote and whether the hidden state starts from zero. Throws for a token
    /// file corrupted after it was opened.
    package func fill(step: Int, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError)
        -> (batchSize: Int, resetsHidden: Bool) {
        switch self {
        case .sequences(let s): try s.fill(step: step, inputs: inputs, targets: targets)
        case .streams(let s): try s.fill(step: step, inputs: inputs, targets: targets)
        }
    }

    /// The dataset indices (or stream indices) of this rank's last batch, for tracing.
    package var lastIndices: [Int] {
        switch self {
        case .sequences(let s): s.lastIndices
        case .streams(let s): s.lastIndices
        }
    }
}

/// Full BPTT: each step's global batch of whole sequences, sharded as DistributedSampler says.
package final class SequenceBatches {
    package let dataset: SequenceDataset
    package let sampler: DistributedSampler
    package private(set) var lastIndices: [Int]

    package init(dataset: SequenceDataset, sampler: DistributedSampler) {
        self.dataset = dataset
        self.sampler = sampler
        lastIndices = []
        lastIndices.reserveCapacity(sampler.shardRange(rank: sampler.rank).count)
    }

    package var maxBatchSize: Int { (sampler.globalBatch + sampler.rankCount - 1) / sampler.rankCount }

    package func fill(step: Int, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError) -> (batchSize: Int, resetsHidden: Bool) {
        sampler.shard(step: step, into: &lastIndices)
        try dataset.fill(sequences: lastIndices, inputs: inputs, targets: targets)
        return (lastIndices.count, true)
    }
}
