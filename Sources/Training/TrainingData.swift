import Buffers
import MPI
import Config
import RunErrors
import TextData

/// The corpus of a run, cut into sequences or streams, and this rank's share of it.
package struct TrainingData {
    package let corpus: Corpus
    package let batches: BatchSource
    package let validation: SequenceDataset?
    package let globalBatch: Int
    package let totalSteps: Int

    package init(config: TrainingConfig, world: Communicator) throws {
        corpus = try config.data.load(tokenizer: config.tokenizer,
                                       validationFraction: config.validationFraction)
        let globalBatch = config.globalBatch ?? (config.batchPerRank! * world.size * config.accumulate)
        self.globalBatch = globalBatch
        // The rank's contiguous slice of the G sequences or streams of a step.
        let sampler = { (count: Int) in
            DistributedSampler(datasetCount: count, globalBatch: globalBatch, rankCount: world.size,
                               rank: world.rank, shuffle: config.shuffle, seed: UInt64(config.seed))
        }
        if config.bptt == .truncated {
            let chunk = config.bpttSteps ?? config.seqLen
            batches = .streams(try StreamBatches(tokens: corpus.train, streamCount: globalBatch, chunkLength: chunk,
                                                 streams: sampler(1).shardRange(rank: world.rank)))
        } else {
            try corpus.validate(sequenceLength: config.seqLen)
            let train = SequenceDataset(tokens: corpus.train, sequenceLength: config.seqLen)
            batches = .sequences(SequenceBatches(dataset: train, sampler: sampler(train.count)))
        }
        let validationSet = SequenceDataset(tokens: corpus.validation, sequenceLength: config.evalSeqLen ?? config.seqLen)
        validation = validationSet.count > 0 ? validationSet : nil
        switch batches {
        case .sequences(let sequences): totalSteps = config.steps ?? sequences.sampler.steps(forEpochs: config.epochs ?? 1)
        case .streams(let streams): totalSteps = config.steps ?? (config.epochs ?? 1) * streams.chunksPerEpoch
        }
    }

    /// Training sequences of full BPTT (0 for streams: truncated BPTT reads positions, not sequences).
    package var sequenceCount: Int {
        switch batches {
        case .sequences(let sequences): sequences.dataset.count
        case .streams: 0
        }
    }

    /// Training sequences (full BPTT) or stream positions (truncated) per epoch, for messages.
    package var describeEpoch: String {
        switch batches {
        case .sequences(let sequences): "\(sequences.sampler.stepsPerEpoch) steps/epoch"
        case .streams(let streams): "\(streams.streamCount) streams x \(streams.chunksPerEpoch) chunks of \(streams.chunkLength) per epoch"
        }
    }
}

extension TrainingData {
    /// Reads a batch: a token file damaged beyond what its open checked (docs/data.md) shows
    /// on the rank whose batch reads it while the others wait in the allreduce, so it ends
    /// the job from this rank (RunError.onThisRank), as bad input.
    package static func onThisRank<T>(_ read: () throws(TokenFileError) -> T) throws(RunError) -> T {
        do {
            return try read()
        } catch {
            throw .onThisRank(.badInput, error.description)
        }
    }
}
