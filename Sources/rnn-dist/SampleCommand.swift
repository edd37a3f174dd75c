import ArgumentParser
import BLAS
import Foundation
import RNN
import Training
import Checkpoints
import RunErrors
import TextData

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a trained model (one process; reproducible for a seed).",
        discussion: """
        Reads a checkpoint (--checkpoint-dir) or a parameters file (--save), runs the prime \
        through the model, prints the prime and then streams the sampled text to stdout. The \
        same file, prime, seed, temperature and top-k give the same text.
        """
    )

    @Option(help: "A checkpoint, a checkpoint folder (its newest valid checkpoint) or a --save parameters file.")
    var checkpoint: String
    @Option(help: "Text to start from (default: a newline if the vocabulary has one, else its first symbol).")
    var prime: String?
    @Option(parsing: .unconditional, help: "Tokens to sample after the prime.") var length: Int = 500
    @Option(parsing: .unconditional, help: "Softmax temperature τ > 0 (below 1: more conservative).")
    var temperature: Double = 1.0
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Draw only from the K most probable tokens.")
    var topK: Int?
    @Option(parsing: .unconditional, help: "Seed of the draws.") var seed: Int = 1

    func run() throws {
        SingleProcess.run {
            guard temperature > 0, temperature.isFinite else {
                throw RunError.badInput("--temperature must be a positive number, got \(temperature)")
            }
            if let topK, topK < 1 { throw RunError.badInput("--top-k must be at least 1, got \(topK)") }
            guard length >= 0 else { throw RunError.badInput("--length must be at least 0, got \(length)") }

            let model = try ModelFile.load(path: checkpoint, warning: StandardError.warning)
            let vocabulary = model.vocabulary
            let primeText = prime ?? vocabulary.defaultPrime
            let primeIDs: [Int32]
            do {
                primeIDs = try vocabulary.encode(primeText)
            } catch {
                throw RunError.badInput("--prime: \(error)")
            }
            BLAS.threadCount = 1
            let sampler = TokenSampler(architecture: model.architecture, parameters: model.parameters, seed: UInt64(bitPattern: Int64(seed)),
                                       kernel: try RecurrenceKernel.fromEnvironment())
            sampler.prime(tokens: primeIDs)

            var stream = TokenTextStream(vocabulary: vocabulary)
            var output = ""
            var endsWithNewline = true
            func emit(_ text: String, force: Bool = false) {
                output += text
                if let last = text.last { endsWithNewline = last == "\n" }
                if force || text.contains("\n") || output.utf8.count >= 4096 {
                    fputs(output, stdout)
                    fflush(stdout)
                    output = ""
                }
            }
            for id in primeIDs { emit(stream.append(id)) }
            let k = topK.map { min($0, model.shape.vocabularySize) }
            for _ in 0..<length {
                emit(stream.append(sampler.next(temperature: temperature, topK: k)))
            }
            emit(stream.flush())
            // The text ends with a newline (one is added when the last token was not one), the
            // same on a terminal, in a pipe and under mpirun.
            emit(endsWithNewline ? "" : "\n", force: true)
        }
    }
}
