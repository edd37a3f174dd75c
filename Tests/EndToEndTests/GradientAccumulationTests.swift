import Foundation
import Safetensors
import TestSupport
import XCTest

/// `accumulate: k` (docs/design.md §4): each rank runs k micro-batches per step and the
/// allreduce runs once. The same global batch on (P ranks, k micro-batches) and on (P·k ranks,
/// 1) follows the same trajectory up to rounding, with full and truncated BPTT and dropout;
/// overlapping the allreduce with the last micro-batch changes no bit; resume is bit-exact.
final class GradientAccumulationTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private func model(_ extra: [String]) -> [String] {
        ["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12", "--global-batch", "12", "--steps", "20",
         "--optimizer", "adam", "--lr", "0.01", "--dropout", "0.2", "--quiet"] + extra
    }

    private func train(_ ranks: Int, _ arguments: [String], _ name: String,
                       environment: [String: String] = [:]) throws -> [String: [Float]] {
        let path = run.path("\(name).safetensors")
        let result = try run.run(ranks: ranks, arguments + ["--save", path], environment: environment)
        XCTAssertEqual(result.status, 0, result.output)
        return try SafetensorsFile.read(path: path).tensors.mapValues { try $0.floats() }
    }

    func testMicroBatchesFollowTheRankCountTrajectory() throws {
        for bptt in [["--bptt", "full"], ["--bptt", "truncated", "--bptt-steps", "6"]] {
            let reference = try train(4, model(bptt), "np4-k1")
            let bound = try RoundingSpread.bound(reference: reference, "accumulate \(bptt)") { environment, tag in
                try train(4, model(bptt), "np4-k1-\(tag)", environment: environment)
            }
            for (ranks, k) in [(2, 2), (1, 4), (3, 4), (1, 1)] {
                let accumulated = try train(ranks, model(bptt + ["--accumulate", "\(k)"]), "np\(ranks)-k\(k)")
                let difference = ParameterDifference.maxRelative(reference, accumulated)
                XCTAssertLessThan(difference, bound, "\(bptt) P=\(ranks) k=\(k) vs P=4 k=1: relative \(difference)")
            }
            // Another global batch is another trajectory: the comparison can fail.
            let other = try train(2, model(bptt + ["--accumulate", "2", "--global-batch", "8"]), "np2-k2-g8")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(reference, other), 1e-3)
        }
    }

    /// Overlap only changes when each bucket of the last micro-batch is reduced: the same bits,
    /// on a model with several buckets (H=256: above 65,536 parameters).
    func testOverlapWithAccumulationIsBitIdentical() throws {
        var files: [Data] = []
        for flag in ["--overlap-allreduce", "--no-overlap-allreduce"] {
            let path = run.path("overlap\(flag).safetensors")
            let result = try run.run(ranks: 3, model(["--hidden", "256", "--steps", "6", "--accumulate", "2", flag,
                                                      "--save", path]))
            XCTAssertEqual(result.status, 0, result.output)
            files.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        XCTAssertFalse(files[0].isEmpty)
        XCTAssertEqual(files[0], files[1], "overlap changed the parameters with accumulate 2")
    }

    /// Stopped at step 9 and resumed, an accumulating run (truncated BPTT: the carried state of
    /// every micro-batch's streams is in the checkpoint) ends bit for bit where it would have.
    func testResumeIsBitExact() throws {
        let common = model(["--accumulate", "3", "--bptt", "truncated", "--bptt-steps", "6"])
        let reference = try train(2, common, "reference")
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, common.map { $0 == "20" ? "9" : $0 } + ["--checkpoint-dir", checkpoints])
        XCTAssertEqual(first.status, 0, first.output)
        let resumed = try train(2, common + ["--resume", checkpoints], "resumed")
        XCTAssertEqual(resumed, reference, "resumed parameters differ from the uninterrupted run")
    }

    /// Locked dropout masks follow the sequence, not the rank: 1 and 3 ranks agree within the
    /// rounding spread, and the masks are not the per-step ones (the trajectory changes).
    func testLockedDropoutIsRankCountInvariant() throws {
        let locked = model(["--dropout-masking", "locked", "--cell", "lstm"])
        let one = try train(1, locked, "locked-np1")
        let bound = try RoundingSpread.bound(reference: one, "locked dropout") { environment, tag in
            try train(1, locked, "locked-np1-\(tag)", environment: environment)
        }
        let three = try train(3, locked, "locked-np3")
        XCTAssertLessThan(ParameterDifference.maxRelative(one, three), bound)
        let perStep = try train(1, model(["--cell", "lstm"]), "per-step-np1")
        XCTAssertGreaterThan(ParameterDifference.maxRelative(one, perStep), 1e-3)
    }

    /// Weight drop's mask belongs to the step, not to a rank or a micro-batch: (P=2, k=2) and
    /// (P=4, k=1) agree within the rounding spread; without it the trajectory differs.
    func testWeightDropIsTheSameOnEveryRankAndMicroBatch() throws {
        let dropped = model(["--weight-drop", "0.3", "--cell", "gru"])
        let four = try train(4, dropped, "wd-np4")
        let bound = try RoundingSpread.bound(reference: four, "weight drop") { environment, tag in
            try train(4, dropped, "wd-np4-\(tag)", environment: environment)
        }
        let accumulated = try train(2, dropped + ["--accumulate", "2"], "wd-np2-k2")
        XCTAssertLessThan(ParameterDifference.maxRelative(four, accumulated), bound)
        let plain = try train(4, model(["--cell", "gru"]), "wd-none")
        XCTAssertGreaterThan(ParameterDifference.maxRelative(four, plain), 1e-3)
    }

    /// Embedding dropout's row mask belongs to the step too, and the tied table's gradient (both
    /// uses summed) is accumulated like any other: (P=2, k=2), (P=1, k=4) and (P=4, k=1) agree
    /// within the rounding spread, for full and truncated BPTT; without embedding dropout the
    /// trajectory differs. The header names the embedding and its dropout.
    func testTiedEmbeddingWithEmbeddingDropoutIsTheSameOnEveryRankAndMicroBatch() throws {
        for bptt in [["--bptt", "full"], ["--bptt", "truncated", "--bptt-steps", "6"]] {
            let tied = model(["--cell", "lstm", "--embedding", "16", "--tie-weights", "--embedding-dropout", "0.25"] + bptt)
            let four = try train(4, tied, "emb-np4")
            let bound = try RoundingSpread.bound(reference: four, "embedding \(bptt)") { environment, tag in
                try train(4, tied, "emb-np4-\(tag)", environment: environment)
            }
            XCTAssertLessThan(ParameterDifference.maxRelative(four, try train(2, tied + ["--accumulate", "2"], "emb-np2-k2")), bound)
            XCTAssertLessThan(ParameterDifference.maxRelative(four, try train(1, tied + ["--accumulate", "4"], "emb-np1-k4")), bound)
            let plain = try train(4, model(["--cell", "lstm", "--embedding", "16", "--tie-weights"] + bptt), "emb-none")
            XCTAssertGreaterThan(ParameterDifference.maxRelative(four, plain), 1e-3)
        }
        let result = try run.run(ranks: 2, model(["--cell", "lstm", "--embedding", "16", "--tie-weights", "--embedding-dropout", "0.25",
                                                  "--steps", "1"]).filter { $0 != "--quiet" })
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("model: lstm L=1 H=16 E=16 tied, dropout 0.2, embedding dropout 0.25,"), result.stdout)
    }

    /// The header says how a rank's share is cut.
    func testHeaderNamesTheMicroBatches() throws {
        let result = try run.run(ranks: 2, model(["--accumulate", "3", "--steps", "1"]).filter { $0 != "--quiet" })
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("global batch 12 (6 per rank in 3 micro-batches)"), result.stdout)
    }
}
