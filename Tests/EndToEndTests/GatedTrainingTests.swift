import Buffers
import Foundation
import RNN
import TestSupport
import TextData
import XCTest
import Checkpoints
import Safetensors

/// LSTM and GRU with two layers and dropout, trained by the real binary on real ranks
/// (DESIGN §2b, §6, §7): rank-count invariance, exact resume, carried (h, c) in truncated
/// BPTT, eval and sample of a gated checkpoint, and old tanh-RNN checkpoints.
final class GatedTrainingTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private static let cells = ["lstm", "gru"]

    private func model(_ cell: String, dropout: String = "0.2") -> [String] {
        ["--data", "synthetic:markov", "--cell", cell, "--layers", "2", "--hidden", "12", "--dropout", dropout,
         "--seq-len", "8", "--global-batch", "6", "--lr", "0.01", "--quiet"]
    }

    /// Every tensor of a parameters file, by name (2 layers: W_xh.0 … b_hh.1, W_hy, b_y).
    private func tensors(_ path: String) throws -> [String: [Float]] {
        let file = try SafetensorsFile.read(path: path)
        XCTAssertEqual(file.tensors.count, 10, "4 tensors per layer x 2 layers + W_hy, b_y: \(file.tensors.keys.sorted())")
        return try file.tensors.mapValues { try $0.floats() }
    }

    private func train(_ ranks: Int, _ arguments: [String], save name: String,
                       environment: [String: String] = [:]) throws -> [String: [Float]] {
        let path = run.path(name)
        let result = try run.run(ranks: ranks, arguments + ["--save", path], environment: environment)
        XCTAssertEqual(result.status, 0, result.output)
        return try tensors(path)
    }

    /// `--gate-bias` reaches the trainer's initialization: after one step of lr 1e-9 (Adam moves
    /// each value by at most ~1e-9) the LSTM's b_xh.l differs from a run without it by +3 in the
    /// forget block and −3 in the input block of both layers, and nothing else differs.
    func testGateBiasFlagShiftsTheInitialGateBiases() throws {
        let common = model("lstm", dropout: "0") + ["--steps", "1", "--lr", "1e-9"]
        let plain = try train(1, common, save: "plain.safetensors")
        let shifted = try train(1, common + ["--gate-bias", "3"], save: "shifted.safetensors")
        let H = 12
        for (name, values) in plain {
            for (index, (p, q)) in zip(values, shifted[name]!).enumerated() {
                let block = name.hasPrefix("b_xh.") ? index / H : -1
                let expected: Float = block == 1 ? 3 : block == 0 ? -3 : 0
                XCTAssertEqual(q - p, expected, accuracy: 1e-5, "\(name)[\(index)]")
            }
        }
    }

    /// `--chrono-delay` reaches the trainer's initialization, on 2 ranks and the same on each
    /// (the run checks parameter identity across ranks): after one step of lr 1e-9 the keep gate's
    /// b_xh.l of every layer lies in [0, log 19] and spreads over it, the LSTM input gate's is its
    /// negative, b_hh.l of both is 0, and every other value is that of the run without it.
    func testChronoDelayFlagDrawsTheInitialGateBiases() throws {
        let H = 12
        for cell in Self.cells {
            let common = model(cell, dropout: "0") + ["--steps", "1", "--lr", "1e-9"]
            let plain = try train(2, common, save: "\(cell)-plain.safetensors")
            let chrono = try train(2, common + ["--chrono-delay", "20"], save: "\(cell)-chrono.safetensors")
            for (name, values) in plain {
                for (index, (p, q)) in zip(values, chrono[name]!).enumerated() {
                    let block = name.hasPrefix("b_xh.") || name.hasPrefix("b_hh.") ? index / H : -1
                    let keep = block == 1, write = block == 0 && cell == "lstm"
                    guard keep || write else {
                        XCTAssertEqual(q, p, accuracy: 1e-5, "\(cell) \(name)[\(index)] is not a gate bias chrono sets")
                        continue
                    }
                    if name.hasPrefix("b_hh.") {
                        XCTAssertEqual(q, 0, accuracy: 1e-5, "\(cell) \(name)[\(index)]")
                    } else if keep {
                        XCTAssertTrue(q > -1e-5 && q < Float(log(19.0)) + 1e-5, "\(cell) \(name)[\(index)] = \(q)")
                    } else {
                        XCTAssertEqual(q, -chrono[name]![index + H], accuracy: 1e-5, "\(cell) \(name)[\(index)]: b_i = −b_f")
                    }
                }
            }
            let keepBiases = chrono["b_xh.0"]![H..<2 * H]
            XCTAssertGreaterThan(keepBiases.max()! - keepBiases.min()!, 1, "\(cell): a spread of memory lengths, not one value")
        }
    }

    /// Dropout masks come from (seed, step, global sequence, layer, t): 1, 2 or 3 ranks train
    /// the same model up to float rounding (RoundingSpread's bound, measured on this CPU); another
    /// seed is a different model, so the comparison can fail.
    func testRankCountInvarianceWithDropout() throws {
        for cell in Self.cells {
            let common = model(cell) + ["--steps", "30"]
            let one = try train(1, common, save: "\(cell)-1.safetensors")
            let bound = try RoundingSpread.bound(reference: one, cell) { environment, tag in
                try train(1, common, save: "\(cell)-1-\(tag).safetensors", environment: environment)
            }
            for ranks in [2, 3] {
                let other = try train(ranks, common, save: "\(cell)-\(ranks).safetensors")
                XCTAssertLessThanOrEqual(ParameterDifference.maxRelative(one, other), bound, "\(cell): 1 vs \(ranks) ranks")
            }
            let reseeded = try train(2, common + ["--seed", "7"], save: "\(cell)-seed7.safetensors")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(one, reseeded), 1e-3, "\(cell): another seed must change the model")
            let noDropout = try train(2, model(cell, dropout: "0") + ["--steps", "30"], save: "\(cell)-p0.safetensors")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(one, noDropout), 1e-3, "\(cell): dropout must change the trajectory")
        }
    }

    /// Stopped at step 17 and resumed, a gated run with dropout ends bit for bit where the
    /// uninterrupted run ends, with full BPTT and with truncated BPTT (whose checkpoint carries
    /// h of both layers, and c for LSTM). Resumed on 3 ranks, it continues up to rounding.
    func testResumeIsBitExact() throws {
        for cell in Self.cells {
            for bptt in ["full", "truncated"] {
                let common = model(cell) + ["--bptt", bptt]
                let reference = try train(2, common + ["--steps", "40"], save: "\(cell)-\(bptt)-reference.safetensors")
                let checkpoints = run.path("\(cell)-\(bptt)-checkpoints")
                let first = try run.run(ranks: 2, common + ["--steps", "17", "--checkpoint-dir", checkpoints])
                XCTAssertEqual(first.status, 0, first.output)
                let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: 17))")
                XCTAssertEqual(checkpoint.metadata.architecture,
                               ModelArchitecture(cell: CellKind(rawValue: cell)!, layers: 2, hiddenSize: 12, vocabularySize: 12))
                if bptt == "truncated" {
                    XCTAssertEqual(checkpoint.file.tensors["bptt.hidden"]?.shape, [2, 6, 12])
                    XCTAssertEqual(checkpoint.file.tensors["bptt.cell"]?.shape, cell == "lstm" ? [2, 6, 12] : nil)
                }
                let resumed = try train(2, common + ["--steps", "40", "--resume", checkpoints],
                                        save: "\(cell)-\(bptt)-resumed.safetensors")
                XCTAssertEqual(resumed, reference, "\(cell) \(bptt): resumed parameters differ from the uninterrupted run")
                let otherRanks = try train(3, common + ["--steps", "40", "--resume", checkpoints],
                                           save: "\(cell)-\(bptt)-3ranks.safetensors")
                let bound = try RoundingSpread.bound(reference: reference, "\(cell) \(bptt)") { environment, tag in
                    try train(2, common + ["--steps", "40"], save: "\(cell)-\(bptt)-\(tag).safetensors", environment: environment)
                }
                XCTAssertLessThanOrEqual(ParameterDifference.maxRelative(reference, otherRanks), bound,
                                         "\(cell) \(bptt): resumed on 3 ranks")
            }
        }
    }

    /// Interrupted by SIGUSR1 at a random step, an LSTM run with truncated BPTT and dropout
    /// resumes to the uninterrupted run's parameters, bit for bit.
    func testSignalInterruptAndResumeIsBitIdentical() throws {
        let (steps, common) = (150, model("lstm") + ["--bptt", "truncated"])
        let reference = try train(2, common + ["--steps", "\(steps)"], save: "reference.safetensors")
        let (checkpoints, pidDirectory) = (run.path("checkpoints"), run.path("pids"))
        try FileManager.default.createDirectory(atPath: pidDirectory, withIntermediateDirectories: true)
        let delay = Double.random(in: 0.2...1.2)
        let interrupted = try run.run(ranks: 2, common + ["--steps", "\(steps)", "--checkpoint-dir", checkpoints,
                                                          "--debug-step-delay", "0.02", "--debug-pid-dir", pidDirectory]) { _ in
            let pids = self.run.waitForPids(pidDirectory, ranks: 2)
            usleep(UInt32(delay * 1e6))
            for pid in pids { kill(pid, SIGUSR1) }
        }
        XCTAssertEqual(interrupted.status, 3, "ranks exit 3 after checkpointing\n\(interrupted.output)")
        let stoppedAt = try XCTUnwrap(CheckpointStore(directory: checkpoints, keep: 3).checkpointSteps().first, interrupted.output)
        XCTAssertLessThan(stoppedAt, steps, "the run finished before the signal (delay \(delay) s)")
        let resumed = try train(2, common + ["--steps", "\(steps)", "--resume", checkpoints], save: "resumed.safetensors")
        XCTAssertEqual(resumed, reference, "stopped at step \(stoppedAt): resumed parameters differ from the uninterrupted run")
    }

    /// Truncated BPTT carries (h, c) of every layer: with a learning rate that is 0 in Float
    /// the parameters stay at their initial values, so after s chunks of k tokens the
    /// checkpoint's carried state of stream g is the state after one long Double forward over
    /// the stream's first s·k tokens (gathered from 3 ranks holding 2, 1, 1 streams). The last
    /// chunk alone, from zeros, gives another state (the test can fail).
    func testTruncatedBPTTCarriesEveryLayersState() throws {
        let (streams, k, steps, H) = (4, 8, 5, 10)
        for cell in Self.cells {
            let checkpoints = run.path("\(cell)-carried")
            let result = try run.run(ranks: 3, ["--data", "synthetic:markov", "--cell", cell, "--layers", "2", "--hidden", "\(H)",
                                                "--bptt", "truncated", "--bptt-steps", "\(k)", "--global-batch", "\(streams)",
                                                "--lr", "1e-300", "--steps", "\(steps)", "--checkpoint-dir", checkpoints, "--quiet"])
            XCTAssertEqual(result.status, 0, result.output)
            let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: steps))")
            let architecture = checkpoint.metadata.architecture
            let layout = ModelLayout(architecture: architecture)
            let parameters = Buffer<Double>(count: layout.count, repeating: 0)
            for entry in layout.entries {
                parameters.copy(from: try checkpoint.file.tensors[entry.name]!.floats().map(Double.init), at: entry.range.lowerBound)
            }
            let initial = Buffer<Double>(count: layout.count, repeating: 0)
            ParameterInitializer.initialize(initial, layout: layout, scheme: .torch, seed: 1234)
            XCTAssertEqual(parameters.toArray(), initial.toArray().map { Double(Float($0)) }, "lr 1e-300 must leave the parameters")

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
            let tensors = [("bptt.hidden", long.h, lastChunk.h)] + (long.c.map { [("bptt.cell", $0, lastChunk.c!)] } ?? [])
            XCTAssertEqual(tensors.count, cell == "lstm" ? 2 : 1)
            for (name, expected, unCarried) in tensors {
                let stored = try XCTUnwrap(checkpoint.file.tensors[name], "\(cell): no \(name)")
                XCTAssertEqual(stored.shape, [2, streams, H])
                let values = try stored.floats()
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
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(cell) \(name): carried state vs one long forward")
                XCTAssertGreaterThan(distance, 1e-3, "\(cell) \(name): the state must depend on the earlier chunks")
            }
        }
    }

    /// A gated checkpoint loads in `eval` (the same loss on 1 and 2 ranks as training's final
    /// validation) and in `sample` (the same text from the checkpoint and from its --save file).
    func testGatedCheckpointLoadsInEvalAndSample() throws {
        for cell in Self.cells {
            let checkpoints = run.path("\(cell)-checkpoints"), saved = run.path("\(cell).safetensors")
            let train = try run.run(ranks: 2, model(cell) + ["--steps", "20", "--checkpoint-dir", checkpoints, "--save", saved])
            XCTAssertEqual(train.status, 0, train.output)
            let reported = try XCTUnwrap(train.stdout.split(separator: "\n").first { $0.hasPrefix("validation loss") }, train.output)
            var losses: [Double] = []
            for ranks in [1, 2] {
                let eval = try run.run(ranks: ranks, ["eval", "--checkpoint", checkpoints, "--json"])
                XCTAssertEqual(eval.status, 0, eval.output)
                let line = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("{") }, eval.output)
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                losses.append(try XCTUnwrap(object["loss"] as? Double))
            }
            XCTAssertEqual(losses[0], losses[1], "\(cell): eval differs between 1 and 2 ranks")
            XCTAssertEqual(Double(reported.split(separator: " ")[2])!, losses[0], accuracy: 1e-4, "\(cell): training's validation vs eval")

            var texts: [String] = []
            for source in [checkpoints, saved, saved] {
                let sample = try run.runAlone(["sample", "--checkpoint", source, "--length", "60", "--seed", "5"])
                XCTAssertEqual(sample.status, 0, sample.output)
                texts.append(sample.stdout)
            }
            XCTAssertGreaterThanOrEqual(texts[0].count, 60, texts[0])
            XCTAssertEqual(Set(texts).count, 1, "\(cell): sampling differs between the checkpoint and its --save file")
            let otherSeed = try run.runAlone(["sample", "--checkpoint", saved, "--length", "60", "--seed", "6"])
            XCTAssertNotEqual(otherSeed.stdout, texts[0], "\(cell): another seed must draw other text")
        }
    }

    /// A tanh-RNN checkpoint as written before gated cells (model metadata without "layers",
    /// cell "tanh"; carried state [G, H]) still loads: as a model, in eval, and to resume.
    func testOldTanhCheckpointStillLoads() throws {
        let common = ["--data", "synthetic:markov", "--hidden", "8", "--bptt", "truncated", "--bptt-steps", "8",
                      "--global-batch", "4", "--lr", "0.01", "--quiet"]
        let reference = run.path("reference.safetensors")
        XCTAssertEqual(try run.run(ranks: 2, common + ["--steps", "20", "--save", reference]).status, 0)
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, common + ["--steps", "10", "--checkpoint-dir", checkpoints])
        XCTAssertEqual(first.status, 0, first.output)
        let path = "\(checkpoints)/\(CheckpointStore.fileName(step: 10))"
        var file = try SafetensorsFile.read(path: path)
        XCTAssertEqual(file.metadata["model"], #"{"cell":"rnn","layers":1,"hidden":8,"vocabulary_size":12}"#)
        file.metadata["model"] = #"{"cell":"tanh","hidden":8,"vocabulary_size":12}"#   // the format before gated cells
        try file.write(to: path)
        XCTAssertEqual(file.tensors["bptt.hidden"]?.shape, [4, 8])

        let model = try ModelFile.load(path: path)
        XCTAssertEqual(model.architecture, ModelArchitecture(cell: .rnn, layers: 1, hiddenSize: 8, vocabularySize: 12))
        XCTAssertEqual(model.layout.entries.map(\.name), ["W_xh", "W_hh", "W_hy", "b_h", "b_y"])
        let eval = try run.run(ranks: 1, ["eval", "--checkpoint", path])
        XCTAssertEqual(eval.status, 0, eval.output)
        let resumed = run.path("resumed.safetensors")
        let second = try run.run(ranks: 2, common + ["--steps", "20", "--resume", path, "--save", resumed])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(try SafetensorsFile.read(path: resumed).tensors.mapValues(\.bytes),
                       try SafetensorsFile.read(path: reference).tensors.mapValues(\.bytes))
        // A gated run refuses it with a message, rather than misreading it.
        let gated = try run.run(ranks: 1, common + ["--cell", "lstm", "--steps", "20", "--resume", path])
        XCTAssertNotEqual(gated.status, 0)
        XCTAssertTrue(gated.output.contains("cell"), gated.output)
    }
}
