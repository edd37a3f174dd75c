import Buffers
import Checkpoints
import Foundation
import RNN
import Safetensors
import TestSupport
import TextData
import XCTest

/// `embedding`, `tie-weights` and `embedding-dropout` trained by the real binary on real ranks:
/// rank-count invariance (np 1, 2, 4 within RoundingSpread's bound), exact resume (full and
/// truncated BPTT, with accumulation), the binary's forward against the Double reference
/// (carried state of a tied model at its initial parameters), eval and sample of an embedding
/// checkpoint, and bad input refused.
final class EmbeddingTrainingTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    /// A tied LSTM (E = H = 12) and an untied GRU (E = 5), both with embedding dropout.
    private static let models: [(name: String, arguments: [String])] = [
        ("lstm-tied", ["--cell", "lstm", "--embedding", "12", "--tie-weights"]),
        ("gru-E5", ["--cell", "gru", "--embedding", "5"]),
    ]

    private func model(_ extra: [String], embeddingDropout: String = "0.2") -> [String] {
        ["--data", "synthetic:markov", "--layers", "2", "--hidden", "12", "--dropout", "0.1",
         "--embedding-dropout", embeddingDropout, "--seq-len", "8", "--global-batch", "8", "--lr", "0.01", "--quiet"] + extra
    }

    private func tensors(_ path: String) throws -> [String: [Float]] {
        try SafetensorsFile.read(path: path).tensors.mapValues { try $0.floats() }
    }

    private func train(_ ranks: Int, _ arguments: [String], save name: String,
                       environment: [String: String] = [:]) throws -> [String: [Float]] {
        let path = run.path(name)
        let result = try run.run(ranks: ranks, arguments + ["--save", path], environment: environment)
        XCTAssertEqual(result.status, 0, result.output)
        return try tensors(path)
    }

    /// The masks (embedding rows included) come from the seed and the step, the table's
    /// gradient is a sum over sequences like every other: 1, 2 and 4 ranks train the same model
    /// up to float rounding (RoundingSpread: the bound is the spread of the np 1 run under this
    /// CPU's other evaluation orders, × 4, argued there). The file holds the table once when
    /// tied (no W_hy). Another seed, and the same run without embedding dropout, end far away
    /// (the comparison can fail).
    func testRankCountInvariance() throws {
        for (name, extra) in Self.models {
            let common = model(extra) + ["--steps", "30"]
            let one = try train(1, common, save: "\(name)-1.safetensors")
            XCTAssertEqual(one["W_emb"]?.count, 12 * (name == "lstm-tied" ? 12 : 5), name)
            XCTAssertEqual(one["W_hy"] == nil, name == "lstm-tied", "\(name): a tied model stores W_hy once, as the embedding")
            let bound = try RoundingSpread.bound(reference: one, name) { environment, tag in
                try train(1, common, save: "\(name)-1-\(tag).safetensors", environment: environment)
            }
            for ranks in [2, 4] {
                let other = try train(ranks, common, save: "\(name)-\(ranks).safetensors")
                XCTAssertLessThanOrEqual(ParameterDifference.maxRelative(one, other), bound, "\(name): 1 vs \(ranks) ranks")
            }
            let reseeded = try train(2, common + ["--seed", "7"], save: "\(name)-seed7.safetensors")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(one, reseeded), 1e-3, "\(name): another seed must change the model")
            let undropped = try train(2, model(extra, embeddingDropout: "0") + ["--steps", "30"], save: "\(name)-e0.safetensors")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(one, undropped), 1e-3,
                                 "\(name): embedding dropout must change the trajectory")
        }
    }

    /// Stopped at step 17 and resumed, an embedding run with embedding dropout ends bit for bit
    /// where the uninterrupted run ends — full and truncated BPTT, with 2 micro-batches per
    /// step. The checkpoint says the embedding; eval and sample load it.
    func testResumeIsBitExactAndTheCheckpointLoads() throws {
        for (name, extra) in Self.models {
            for bptt in ["full", "truncated"] {
                let common = model(extra) + ["--bptt", bptt, "--accumulate", "2"]
                let reference = try train(2, common + ["--steps", "40"], save: "\(name)-\(bptt)-reference.safetensors")
                let checkpoints = run.path("\(name)-\(bptt)-checkpoints")
                let first = try run.run(ranks: 2, common + ["--steps", "17", "--checkpoint-dir", checkpoints])
                XCTAssertEqual(first.status, 0, first.output)
                let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: 17))")
                let tied = name == "lstm-tied"
                XCTAssertEqual(checkpoint.metadata.architecture,
                               ModelArchitecture(cell: tied ? .lstm : .gru, layers: 2, hiddenSize: 12, vocabularySize: 12,
                                                 embeddingSize: tied ? 12 : 5, tiedWeights: tied))
                let resumed = try train(2, common + ["--steps", "40", "--resume", checkpoints],
                                        save: "\(name)-\(bptt)-resumed.safetensors")
                XCTAssertEqual(resumed, reference, "\(name) \(bptt): resumed parameters differ from the uninterrupted run")
                guard bptt == "full" else { continue }
                let eval = try run.run(ranks: 2, ["eval", "--checkpoint", checkpoints, "--json"])
                XCTAssertEqual(eval.status, 0, eval.output)
                let sample = try run.runAlone(["sample", "--checkpoint", checkpoints, "--length", "40", "--seed", "5"])
                XCTAssertEqual(sample.status, 0, sample.output)
                XCTAssertGreaterThanOrEqual(sample.stdout.count, 40, sample.stdout)
            }
        }
    }

    /// The binary's forward with a tied embedding, against the Double reference: with a learning
    /// rate that is 0 in Float the parameters stay at their initialization (the table
    /// uniform ±1/√H, as the nn.Linear it also is), and after 5 chunks of 8 tokens the carried
    /// (h, c) of each of 4 streams (on 3 ranks) is the state after one long Double forward of the
    /// stream's first 40 tokens through the table, within 1e-5 (Float32 vs Double over 40
    /// steps). The last chunk alone, from zeros, is more than 1e-3 away (the test can fail).
    func testTiedEmbeddingForwardMatchesTheDoubleReference() throws {
        let (streams, k, steps, H) = (4, 8, 5, 10)
        let checkpoints = run.path("carried")
        let result = try run.run(ranks: 3, ["--data", "synthetic:markov", "--cell", "lstm", "--layers", "2", "--hidden", "\(H)",
                                            "--embedding", "\(H)", "--tie-weights", "--bptt", "truncated", "--bptt-steps", "\(k)",
                                            "--global-batch", "\(streams)", "--lr", "1e-300", "--steps", "\(steps)",
                                            "--checkpoint-dir", checkpoints, "--quiet"])
        XCTAssertEqual(result.status, 0, result.output)
        let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: steps))")
        let architecture = checkpoint.metadata.architecture
        XCTAssertEqual(architecture.embeddingSize, H)
        XCTAssertTrue(architecture.tiedWeights)
        let layout = ModelLayout(architecture: architecture)
        let parameters = Buffer<Double>(count: layout.count, repeating: 0)
        for entry in layout.entries {
            parameters.copy(from: try checkpoint.file.tensors[entry.name]!.floats().map(Double.init), at: entry.range.lowerBound)
        }
        let initial = Buffer<Double>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(initial, layout: layout, scheme: .torch, seed: 1234)
        XCTAssertEqual(parameters.toArray(), initial.toArray().map { Double(Float($0)) }, "lr 1e-300 must leave the parameters")
        let table = layout.range(of: .embedding)!, bound = 1 / Double(H).squareRoot()
        XCTAssertTrue(table.allSatisfy { abs(initial[$0]) <= bound }, "a tied table starts uniform ±1/√H")

        let corpus = try DataSource(parsing: "synthetic:markov").load(tokenizer: .chars, validationFraction: 0.1)
        let train = corpus.trainTokens, streamLength = (train.count - 1) / streams
        func finalState(from start: Int, length: Int) -> RecurrentState<Double> {
            let workspace = StackedBPTTWorkspace<Double>(architecture: architecture, maxBatchSize: streams, sequenceLength: length)
            let inputs = Buffer<Int32>(count: streams * length, repeating: 0), targets = Buffer<Int32>(count: streams * length, repeating: 0)
            for g in 0..<streams {
                for t in 0..<length {
                    inputs[g * length + t] = train[g * streamLength + start + t]
                    targets[g * length + t] = train[g * streamLength + start + t + 1]
                }
            }
            _ = workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: streams, initialState: nil)
            return workspace.finalState
        }
        let long = finalState(from: 0, length: steps * k), lastChunk = finalState(from: (steps - 1) * k, length: k)
        for (name, expected, unCarried) in [("bptt.hidden", long.h, lastChunk.h), ("bptt.cell", long.c!, lastChunk.c!)] {
            let values = try XCTUnwrap(checkpoint.file.tensors[name], name).floats()
            var worst = 0.0, distance = 0.0
            for l in 0..<2 {
                for g in 0..<streams {
                    for i in 0..<H {
                        let s = Double(values[(l * streams + g) * H + i]), offset = long.offset(layer: l, row: g) + i
                        worst = max(worst, abs(s - expected[offset]))
                        distance = max(distance, abs(s - unCarried[offset]))
                    }
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(name): carried state vs one long Double forward")
            XCTAssertGreaterThan(distance, 1e-3, "\(name): the state must depend on the earlier chunks")
        }
    }

    /// Each mistake: one line naming it, exit 1, nothing written (no --save file, no checkpoint
    /// folder). Resuming with another embedding or tie setting is refused like any other shape.
    func testBadInputIsOneLineAndWritesNothing() throws {
        let base = ["--data", "synthetic:markov", "--hidden", "12", "--steps", "3", "--quiet"]
        let cases: [([String], String)] = [
            (["--embedding-dropout", "0.1"], "embedding-dropout (0.1) drops rows of the embedding table: set embedding"),
            (["--tie-weights"], "tie-weights makes W_hy the embedding table: set embedding"),
            (["--embedding", "8", "--tie-weights"], "tie-weights needs embedding (8) equal to hidden (12)"),
            (["--embedding", "-3"], "embedding"),
            (["--embedding", "8", "--embedding-dropout", "1"], "embedding-dropout"),
            (["--embedding", "8", "--embedding-dropout", "-0.1"], "embedding-dropout"),
        ]
        for (index, (extra, expected)) in cases.enumerated() {
            let saved = run.path("bad\(index).safetensors"), checkpoints = run.path("bad\(index)-checkpoints")
            // Alone, stderr is exactly the one line; under mpirun on 2 ranks every rank says the
            // same line (mpirun adds its own notice of the exit) and none hangs.
            let alone = try run.runAlone(base + extra + ["--save", saved, "--checkpoint-dir", checkpoints])
            XCTAssertEqual(alone.status, 1, "\(extra): \(alone.output)")
            XCTAssertEqual(alone.stderr.split(separator: "\n").count, 1, "\(extra): \(alone.stderr)")
            XCTAssertTrue(alone.stderr.contains(expected), "\(extra): \(alone.stderr)")
            let ranks = try run.run(ranks: 2, base + extra + ["--save", saved, "--checkpoint-dir", checkpoints])
            XCTAssertEqual(ranks.status, 1, "\(extra): \(ranks.output)")
            XCTAssertEqual(Set(ranks.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") }).count, 1, ranks.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: saved), "\(extra) wrote \(saved)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoints), "\(extra) created \(checkpoints)")
        }

        let checkpoints = run.path("tied-checkpoints")
        let first = try run.run(ranks: 1, base + ["--cell", "lstm", "--embedding", "12", "--tie-weights",
                                                  "--checkpoint-dir", checkpoints])
        XCTAssertEqual(first.status, 0, first.output)
        for (extra, expected) in [([String](), "the embedding"), (["--embedding", "12"], "tie-weights"),
                                  (["--embedding", "6"], "the embedding")] {
            let resumed = try run.run(ranks: 1, base + ["--cell", "lstm", "--steps", "6", "--resume", checkpoints] + extra)
            XCTAssertEqual(resumed.status, 1, "\(extra): \(resumed.output)")
            XCTAssertEqual(resumed.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") }.count, 1, resumed.stderr)
            XCTAssertTrue(resumed.stderr.contains(expected), "\(extra): \(resumed.stderr)")
        }
        XCTAssertEqual(try CheckpointStore(directory: checkpoints, keep: 3).checkpointSteps(), [3], "a refused resume wrote nothing")
    }
}
