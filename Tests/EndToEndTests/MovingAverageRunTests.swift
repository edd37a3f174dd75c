import Foundation
import Safetensors
import TestSupport
import XCTest

/// `ema: β` in a real run (docs/design.md §5): the checkpoint carries the average beside the
/// parameters, `--save` writes the average, `eval` of the checkpoint evaluates it (the same
/// loss the run reported), and a resumed run continues the average bit for bit.
final class MovingAverageRunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private let model = ["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12", "--global-batch", "8",
                         "--lr", "0.01", "--ema", "0.9"]

    private func tensors(_ path: String, prefix: String = "") throws -> [String: [Float]] {
        let file = try SafetensorsFile.read(path: path)
        var result: [String: [Float]] = [:]
        // The one-layer tanh RNN's parameters are W_xh, …; every other tensor's name has a prefix.
        for (name, tensor) in file.tensors where prefix.isEmpty ? !name.contains(".") : name.hasPrefix(prefix) {
            result[String(name.dropFirst(prefix.count))] = try tensor.floats()
        }
        return result
    }

    func testTheAverageIsSavedEvaluatedAndResumed() throws {
        let checkpoints = run.path("checkpoints"), saved = run.path("saved.safetensors")
        let result = try run.run(ranks: 2, model + ["--steps", "20", "--checkpoint-dir", checkpoints, "--save", saved])
        XCTAssertEqual(result.status, 0, result.output)
        let checkpoint = "\(checkpoints)/checkpoint-00000020.safetensors"
        let average = try tensors(checkpoint, prefix: "ema.")
        let parameters = try tensors(checkpoint)
        XCTAssertEqual(Set(average.keys), Set(["W_xh", "W_hh", "W_hy", "b_h", "b_y"]))
        XCTAssertEqual(try tensors(saved), average, "--save writes the average")
        XCTAssertNotEqual(average, parameters, "the average lags the parameters")

        // eval of the checkpoint evaluates the average: the loss training reported at the end.
        let reported = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("validation loss") }, result.stdout)
        let eval = try run.run(ranks: 1, ["eval", "--checkpoint", checkpoint])
        XCTAssertEqual(eval.status, 0, eval.output)
        // "validation loss L nats/token, …" after training; "loss L nats/token, …" from eval.
        let evaluated = try XCTUnwrap(eval.stdout.split(separator: "\n").first { $0.hasPrefix("loss ") }, eval.stdout)
        let trained = try XCTUnwrap(Double(reported.split(separator: " ")[2])), evaluatedLoss = try XCTUnwrap(Double(evaluated.split(separator: " ")[1]))
        XCTAssertEqual(evaluatedLoss, trained, accuracy: 1e-4, "eval: \(evaluated) vs training: \(reported)")

        // Stopped at 10 and resumed, the average ends where the uninterrupted run's does.
        let partial = run.path("partial")
        XCTAssertEqual(try run.run(ranks: 2, model + ["--steps", "10", "--checkpoint-dir", partial]).status, 0)
        let resumed = run.path("resumed.safetensors")
        let second = try run.run(ranks: 2, model + ["--steps", "20", "--resume", partial, "--save", resumed])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(try tensors(resumed), average, "the resumed average differs from the uninterrupted one")
    }
}
