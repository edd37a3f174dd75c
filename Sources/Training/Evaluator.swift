import Buffers
import Foundation
import MPI
import RNN
import Checkpoints
import Distributed
import RunErrors
import TextData

/// Validation loss computed in parallel (each rank a share of the batches, one allreduce),
/// identical whatever the rank count: the validation set is cut into fixed batches of
/// `batchSize` sequences whatever the rank count, batch b is evaluated by rank b mod P, and
/// the per-batch loss sums are summed in batch order after the allreduce, so every term and
/// the order of the sum are the same for 1 or 8 ranks. With a token budget (`eval-tokens`)
/// the evaluated sequences are M = min(N, max(1, budget / T)) evenly spaced ones, sequence
/// ⌊j·N/M⌋ for j < M: a fixed set that depends only on N, T and the budget.
public final class Evaluator {
    public struct Result: Sendable {
        public var meanLoss: Double
        public var tokens: Int
        public var bitsPerToken: Double { meanLoss / log(2.0) }
        public var perplexity: Double { exp(meanLoss) }
    }

    let dataset: SequenceDataset
    let batchSize: Int
    /// M, the sequences evaluated (N without a budget).
    let sequenceCount: Int
    private let workspace: StackedBPTTWorkspace<Float>
    private let inputs: Buffer<Int32>
    private let targets: Buffer<Int32>

    /// `maxTokens`: the evaluation budget in tokens (nil: the whole split).
    public init(dataset: SequenceDataset, architecture: ModelArchitecture, maxTokens: Int? = nil, batchSize: Int = 32,
                kernel: RecurrenceKernel = .best) {
        self.dataset = dataset
        sequenceCount = maxTokens.map { min(dataset.count, max(1, $0 / dataset.sequenceLength)) } ?? dataset.count
        self.batchSize = max(1, min(batchSize, sequenceCount))
        workspace = StackedBPTTWorkspace(architecture: architecture, maxBatchSize: self.batchSize,
                                         sequenceLength: dataset.sequenceLength, kernel: kernel)
        inputs = Buffer(count: self.batchSize * dataset.sequenceLength, repeating: 0)
        targets = Buffer(count: self.batchSize * dataset.sequenceLength, repeating: 0)
    }

    var batchCount: Int { (sequenceCount + batchSize - 1) / batchSize }

    /// `rnn-dist eval`: the validation split of `corpus` under `model`, on all ranks of `world`.
    public static func evaluate(model: ModelFile, corpus: Corpus, sequenceLength: Int, maxTokens: Int? = nil,
                                world: Communicator, collectiveTimeout: Double = 300,
                                kernel: RecurrenceKernel = .best) throws -> Result {
        let dataset = SequenceDataset(tokens: corpus.validation, sequenceLength: sequenceLength)
        guard dataset.count > 0 else {
            throw RunError.badInput("the validation split of \(corpus.name) has \(corpus.validation.count) tokens: "
                + "fewer than one sequence of \(sequenceLength) + 1")
        }
        let watchdog = CollectiveWatchdog(world: world, timeoutSeconds: collectiveTimeout)
        watchdog.start()
        let collectives = Collectives(world: world, watchdog: watchdog, checkFingerprints: false)
        return try Evaluator(dataset: dataset, architecture: model.architecture, maxTokens: maxTokens, kernel: kernel).evaluate(parameters: model.parameters, collectives: collectives, step: 0)
    }

    public func evaluate(parameters: Buffer<Float>, collectives: Collectives, step: Int) throws -> Result {
        var lossByBatch = [Double](repeating: 0, count: batchCount)
        for batch in stride(from: collectives.rank, to: batchCount, by: collectives.size) {
            let (total, selected) = (dataset.count, sequenceCount)
            let sequences = (batch * batchSize ..< min(selected, (batch + 1) * batchSize)).lazy.map { $0 * total / selected }
            try TrainingData.onThisRank { () throws(TokenFileError) in
                try dataset.fill(sequences: sequences, inputs: inputs, targets: targets)
            }
            lossByBatch[batch] = workspace.forward(parameters: parameters, inputs: inputs, targets: targets,
                                                   batchSize: sequences.count, initialState: nil)
        }
        if collectives.size > 1 {
            try collectives.allreduce(&lossByBatch, op: .sum, label: "validation allreduce", step: step)
        }
        let tokens = sequenceCount * dataset.sequenceLength
        return Result(meanLoss: lossByBatch.reduce(0, +) / Double(tokens), tokens: tokens)
    }
}
