import Buffers

/// Where a rank's batch of each step comes from: whole sequences (full BPTT) or the next
/// chunk of parallel streams (truncated BPTT, docs/design.md §6).
package protocol BatchSource: AnyObject {
    /// Largest number of sequences this rank ever gets in one step.
    var maxBatchSize: Int { get }
    /// Time steps per sequence or chunk.
    var sequenceLength: Int { get }
    /// Global steps per epoch.
    var stepsPerEpoch: Int { get }
    func epoch(ofStep step: Int) -> Int
    /// Fills this rank's inputs and targets (batch-major) for `step`; returns how many
    /// sequences it wrote and whether the hidden state starts from zero. Throws for a token
    /// file corrupted after it was opened.
    func fill(step: Int, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError) -> (batchSize: Int, resetsHidden: Bool)
    /// The dataset indices (or stream indices) of this rank's last batch, for tracing.
    var lastIndices: [Int] { get }
}

/// Full BPTT: each step's global batch of whole sequences, sharded as DistributedSampler says.
package final class SequenceBatches: BatchSource {
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
    package var sequenceLength: Int { dataset.sequenceLength }
    package var stepsPerEpoch: Int { sampler.stepsPerEpoch }
    package func epoch(ofStep step: Int) -> Int { sampler.epoch(ofStep: step) }

    package func fill(step: Int, inputs: Buffer<Int32>, targets: Buffer<Int32>) throws(TokenFileError) -> (batchSize: Int, resetsHidden: Bool) {
        sampler.shard(step: step, into: &lastIndices)
        try dataset.fill(sequences: lastIndices, inputs: inputs, targets: targets)
        return (lastIndices.count, true)
    }
}
