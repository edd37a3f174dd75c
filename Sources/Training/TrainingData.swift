import Buffers
import MPI

/// The corpus of a run cut into sequences, and this rank's view of the sharding.
struct TrainingData {
    let corpus: Corpus
    let train: SequenceDataset
    let validation: SequenceDataset?
    let sampler: DistributedSampler
    let globalBatch: Int
    let totalSteps: Int

    init(config: TrainingConfig, world: Communicator) throws {
        corpus = try CorpusSource.load(spec: config.data, tokenizer: config.tokenizer,
                                       validationFraction: config.validationFraction)
        try corpus.validate(sequenceLength: config.seqLen)
        train = SequenceDataset(tokens: corpus.trainTokens, sequenceLength: config.seqLen)
        validation = corpus.validationTokens.count > config.seqLen
            ? SequenceDataset(tokens: corpus.validationTokens, sequenceLength: config.seqLen) : nil
        globalBatch = config.globalBatch ?? (config.batchPerRank! * world.size)
        sampler = DistributedSampler(datasetCount: train.count, globalBatch: globalBatch, rankCount: world.size,
                                     rank: world.rank, shuffle: config.shuffle, seed: UInt64(config.seed))
        maxShardSize = (globalBatch + world.size - 1) / world.size
        if let steps = config.steps {
            totalSteps = steps
        } else {
            let epochs = config.epochs ?? 1
            totalSteps = sampler.steps(forEpochs: epochs)
        }
    }

    /// Sequences per rank the workspace must hold: the largest shard.
    let maxShardSize: Int
}
