import Buffers
import Foundation
import RNN
import TestSupport
import XCTest
import Checkpoints
import Safetensors

/// Truncated BPTT (docs/design.md §6) and evaluation, on real ranks.
final class TruncatedBPTTTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private func parameters(_ path: String) throws -> [String: [UInt8]] {
        let file = try SafetensorsFile.read(path: path)
        return Dictionary(uniqueKeysWithValues: try ["W_xh", "W_hh", "W_hy", "b_h", "b_y"].map { ($0, try XCTUnwrap(file.tensors[$0]).bytes) })
    }

    /// With one chunk per stream (k = stream length = T) and as many sequences as streams,
    /// truncated BPTT is exactly full BPTT: same batches, h_0 = 0 every step.
    func testTruncatedWithKCoveringTheSequenceEqualsFullBPTT() throws {
        let (streams, length) = (4, 16)
        var generator = SystemRandomNumberGenerator()
        let text = String((0..<(streams * length + 1)).map { _ in "abcdefgh".randomElement(using: &generator)! })
        let corpus = run.path("corpus.txt")
        try text.write(toFile: corpus, atomically: true, encoding: .utf8)
        let common = ["--data", corpus, "--validation-fraction", "0", "--hidden", "12", "--seq-len", "\(length)",
                      "--global-batch", "\(streams)", "--steps", "25", "--no-shuffle", "--lr", "0.01", "--quiet"]
        let full = run.path("full.safetensors"), truncated = run.path("truncated.safetensors")
        let a = try run.run(ranks: 2, common + ["--save", full])
        XCTAssertEqual(a.status, 0, a.output)
        let b = try run.run(ranks: 2, common + ["--bptt", "truncated", "--bptt-steps", "\(length)", "--save", truncated])
        XCTAssertEqual(b.status, 0, b.output)
        XCTAssertEqual(try parameters(full), try parameters(truncated))
        // With shorter chunks the gradient is truncated: a different trajectory (the test can fail).
        let shorter = run.path("shorter.safetensors")
        let c = try run.run(ranks: 2, common + ["--bptt", "truncated", "--bptt-steps", "4", "--save", shorter])
        XCTAssertEqual(c.status, 0, c.output)
        XCTAssertNotEqual(try parameters(full), try parameters(shorter))
    }

    /// Carrying h from one chunk to the next is one long forward pass cut in two.
    func testCarriedStateEqualsOneLongForwardPass() {
        let shape = RNNShape(vocabularySize: 7, hiddenSize: 9)
        let layout = ModelLayout(architecture: ModelArchitecture(shape: shape))
        let parameters = Buffer<Double>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(parameters, layout: layout, scheme: .torch, seed: 3)
        let (batch, chunk) = (3, 5)
        var generator = SeededGenerator(seed: 11)
        let tokens = (0..<(batch * (2 * chunk + 1))).map { _ in Int32(generator.next() % 7) }
        // Long sequences of 2k steps, batch-major.
        let longInputs = Buffer<Int32>(count: batch * 2 * chunk, repeating: 0), longTargets = Buffer<Int32>(count: batch * 2 * chunk, repeating: 0)
        let firstInputs = Buffer<Int32>(count: batch * chunk, repeating: 0), firstTargets = Buffer<Int32>(count: batch * chunk, repeating: 0)
        let secondInputs = Buffer<Int32>(count: batch * chunk, repeating: 0), secondTargets = Buffer<Int32>(count: batch * chunk, repeating: 0)
        for b in 0..<batch {
            let base = b * (2 * chunk + 1)
            for t in 0..<(2 * chunk) {
                longInputs[b * 2 * chunk + t] = tokens[base + t]
                longTargets[b * 2 * chunk + t] = tokens[base + t + 1]
            }
            for t in 0..<chunk {
                firstInputs[b * chunk + t] = tokens[base + t]; firstTargets[b * chunk + t] = tokens[base + t + 1]
                secondInputs[b * chunk + t] = tokens[base + chunk + t]; secondTargets[b * chunk + t] = tokens[base + chunk + t + 1]
            }
        }
        let long = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: batch, sequenceLength: 2 * chunk)
        let longLoss = long.forward(parameters: parameters, inputs: longInputs, targets: longTargets, batchSize: batch, initialState: nil)
        let short = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: batch, sequenceLength: chunk)
        let firstLoss = short.forward(parameters: parameters, inputs: firstInputs, targets: firstTargets, batchSize: batch, initialState: nil)
        let carried = RecurrentState<Double>(architecture: short.architecture, capacity: batch)
        carried.copy(from: short.finalState, rows: batch)
        let secondLoss = short.forward(parameters: parameters, inputs: secondInputs, targets: secondTargets, batchSize: batch, initialState: carried)
        XCTAssertEqual(firstLoss + secondLoss, longLoss, accuracy: 1e-12 * abs(longLoss))
        for (a, b) in zip(short.finalState.h.toArray(), long.finalState.h.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        // Without the carried state the second chunk is a different computation.
        let fresh = short.forward(parameters: parameters, inputs: secondInputs, targets: secondTargets, batchSize: batch, initialState: nil)
        XCTAssertNotEqual(fresh, secondLoss)
    }

    /// Interrupted and resumed, a truncated run ends bit for bit where the uninterrupted one
    /// ends: the checkpoint carries every stream's hidden state. With another rank count the
    /// trajectory continues up to float rounding.
    func testTruncatedResumeIsExact() throws {
        let common = ["--data", "synthetic:markov", "--hidden", "16", "--bptt", "truncated", "--bptt-steps", "8",
                      "--global-batch", "6", "--lr", "0.01", "--quiet"]
        let reference = run.path("reference.safetensors")
        XCTAssertEqual(try run.run(ranks: 2, common + ["--steps", "40", "--save", reference]).status, 0)
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, common + ["--steps", "17", "--checkpoint-dir", checkpoints])
        XCTAssertEqual(first.status, 0, first.output)
        let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: 17))")
        XCTAssertEqual(checkpoint.file.tensors["bptt.hidden"]?.shape, [6, 16])
        XCTAssertEqual(checkpoint.metadata.streamCursor, 17)
        XCTAssertNotEqual(try checkpoint.file.tensors["bptt.hidden"]!.floats().map { abs($0) }.max(), 0)

        let resumed = run.path("resumed.safetensors")
        let second = try run.run(ranks: 2, common + ["--steps", "40", "--resume", checkpoints, "--save", resumed])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(try parameters(resumed), try parameters(reference))

        // On 3 ranks it continues up to float rounding (RoundingSpread's bound, measured on this CPU).
        func floats(_ path: String) throws -> [String: [Float]] { try SafetensorsFile.read(path: path).tensors.mapValues { try $0.floats() } }
        let otherRanks = run.path("other-ranks.safetensors")
        let third = try run.run(ranks: 3, common + ["--steps", "40", "--resume", checkpoints, "--save", otherRanks])
        XCTAssertEqual(third.status, 0, third.output)
        let bound = try RoundingSpread.bound(reference: try floats(reference), "truncated resume") { environment, tag in
            let path = run.path("reference-\(tag).safetensors")
            let result = try run.run(ranks: 2, common + ["--steps", "40", "--save", path], environment: environment)
            XCTAssertEqual(result.status, 0, result.output)
            return try floats(path)
        }
        let difference = ParameterDifference.maxRelative(try floats(reference), try floats(otherRanks))
        XCTAssertLessThan(difference, bound, "resumed on 3 ranks: relative \(difference)")
    }

    /// `rnn-dist eval` gives the identical result on 1 and 3 ranks, and matches the
    /// validation loss the training run reported for the same parameters.
    func testEvaluationIsIdenticalWhateverTheRankCount() throws {
        let checkpoints = run.path("checkpoints")
        let train = try run.run(ranks: 2, ["--data", "synthetic:recall", "--hidden", "16", "--steps", "30",
                                           "--checkpoint-dir", checkpoints, "--quiet"])
        XCTAssertEqual(train.status, 0, train.output)
        var results: [String] = []
        // The whole split, then a budget of 200 tokens: 6 evenly spaced sequences of T = 32.
        for budget in ["all", "200"] {
            for ranks in [1, 3] {
                let eval = try run.run(ranks: ranks, ["eval", "--checkpoint", checkpoints, "--json", "--eval-tokens", budget])
                XCTAssertEqual(eval.status, 0, eval.output)
                let line = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("{") }, eval.output)
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                results.append("\(object["loss"]!) \(object["tokens"]!)")
            }
        }
        XCTAssertEqual(results[0], results[1], "eval differs between 1 and 3 ranks")
        XCTAssertEqual(results[2], results[3], "bounded eval differs between 1 and 3 ranks")
        XCTAssertEqual(results[2].split(separator: " ")[1], "192", "6 sequences of 32 tokens")
        XCTAssertNotEqual(results[0], results[2], "the budget changes the figure")
        let trainedLine = try XCTUnwrap(train.stdout.split(separator: "\n").first { $0.hasPrefix("validation loss") })
        let reported = Double(trainedLine.split(separator: " ")[2])!
        let evaluated = Double(results[0].split(separator: " ")[0])!
        XCTAssertEqual(reported, evaluated, accuracy: 1e-4, "training's final validation and eval agree")
    }
}
