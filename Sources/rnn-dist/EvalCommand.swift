import ArgumentParser
import Foundation
import MPI
import RNN
import Training
import Checkpoints
import Distributed
import RunErrors
import TextData

/// `rnn-dist eval`: validation loss of a saved model, computed in parallel on all ranks.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Validation loss, bits per token and perplexity of a checkpoint or parameters file.",
        discussion: """
        Runs under mpirun with any rank count (each rank evaluates a share of the batches; one \
        allreduce); the result is identical whatever the rank count. --data, --seq-len and \
        --validation-fraction default to the checkpoint's training settings.
        """
    )

    @Option(help: "A checkpoint, a checkpoint folder (its newest valid checkpoint) or a --save parameters file.")
    var checkpoint: String
    @Option(help: "Corpus path or synthetic:NAME (default: the checkpoint's training data).") var data: String?
    @Option(name: .customLong("seq-len"), parsing: .unconditional, help: "T of the evaluation sequences.") var seqLen: Int?
    @Option(name: .customLong("validation-fraction"), parsing: .unconditional, help: "Tail fraction held out.") var validationFraction: Double?
    @Option(name: .customLong("eval-tokens"), help: "Validation tokens to evaluate, in evenly spaced sequences (default 262144; all: the whole split).")
    var evalTokens: String = "262144"
    @Flag(help: "Print JSON (rank 0).") var json = false

    func run() throws {
        ExitReporter.run { world in
            // Every rank reads the files; a failure anywhere is reported once, by rank 0.
            let (model, corpus, sequenceLength) = try RankAgreement.agree(world) { () -> (ModelFile, Corpus, Int) in
                let model = try ModelFile.load(path: checkpoint, warning: StandardError.warning)
                let config = model.config
                guard let source = try data.map(DataSource.init(parsing:)) ?? config?.data else {
                    throw RunError.badInput("\(checkpoint) records no training data: give --data")
                }
                let sequenceLength = seqLen ?? config?.evalSeqLen ?? config?.seqLen ?? 64
                guard sequenceLength >= 1 else { throw RunError.badInput("--seq-len must be at least 1, got \(sequenceLength)") }
                guard evalTokens == "all" || (Int(evalTokens) ?? 0) >= 1 else {
                    throw RunError.badInput("--eval-tokens must be a positive integer or all, got \(evalTokens)")
                }
                let fraction = validationFraction ?? config?.validationFraction ?? 0.1
                let corpus = try source.load(tokenizer: model.vocabulary.tokenizer,
                                                   validationFraction: fraction, vocabulary: model.vocabulary)
                return (model, corpus, sequenceLength)
            }
            let result = try Evaluator.evaluate(model: model, corpus: corpus, sequenceLength: sequenceLength,
                                                maxTokens: Int(evalTokens), world: world,
                                                kernel: try RecurrenceKernel.fromEnvironment())
            guard world.isRoot else { return }
            if json {
                var record: [String: Any] = ["loss": result.meanLoss, "bits_per_token": result.bitsPerToken,
                                             "perplexity": result.perplexity, "tokens": result.tokens, "ranks": world.size,
                                             "seq_len": sequenceLength]
                if let perCharacter = corpus.charactersPerToken { record["nats_per_char"] = result.meanLoss / perCharacter }
                print(String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print("validation of \(model.path) on \(corpus.name): \(result.tokens) tokens, T=\(sequenceLength), \(world.size) rank\(world.size == 1 ? "" : "s")")
                print(String(format: "loss %.6f nats/token, %.4f bits/token, perplexity %.4f", result.meanLoss, result.bitsPerToken, result.perplexity)
                    + (corpus.charactersPerToken.map {
                        String(format: "; %.6f nats/char, %.4f bits/char (%.3f characters per token)",
                               result.meanLoss / $0, result.meanLoss / $0 / log(2.0), $0)
                    } ?? ""))
            }
        }
    }
}
