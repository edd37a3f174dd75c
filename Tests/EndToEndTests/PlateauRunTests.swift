import Checkpoints
import Foundation
import TestSupport
import XCTest

/// `lr-schedule: plateau` and `early-stop` in real runs: the validation loss (the same on every
/// rank) decays the learning rate and ends the run, the state survives a resume, and both
/// refuse a run without evaluations.
final class PlateauRunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    // lr 1e-9: the validation loss cannot improve after the first evaluation.
    private let flat = ["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12", "--global-batch", "8",
                        "--lr", "1e-9", "--eval-every", "5", "--log-every", "5"]

    func testEarlyStopEndsTheRunAtTheSameStepOnEveryRank() throws {
        let checkpoints = run.path("checkpoints")
        let result = try run.run(ranks: 2, flat + ["--steps", "100", "--early-stop", "2", "--checkpoint-dir", checkpoints])
        XCTAssertEqual(result.status, 0, result.output)
        // Evaluations at 5 (a first best), 10 and 15 (no better): stop after step 15.
        XCTAssertTrue(result.stdout.contains("early stop at step 15"), result.stdout)
        XCTAssertTrue(result.stdout.contains("stopped early at step 15"), result.stdout)
        XCTAssertTrue(result.stdout.contains("done: 15 steps"), result.stdout)
        XCTAssertTrue(result.stdout.contains("parameters identical on all 2 ranks"), result.stdout)
        XCTAssertEqual(CheckpointStore(directory: checkpoints, keep: 3).checkpointSteps().first, 15)
    }

    func testPlateauDecaysAndResumesItsState() throws {
        let plateau = flat + ["--lr-schedule", "plateau", "--plateau-patience", "0", "--plateau-factor", "0.5"]
        let whole = run.path("whole")
        let result = try run.run(ranks: 2, plateau + ["--steps", "20", "--checkpoint-dir", whole])
        XCTAssertEqual(result.status, 0, result.output)
        // Evaluations at 5 (best), 10, 15, 20: three decays.
        XCTAssertTrue(result.stdout.contains("validation plateau at step 10: lr × 0.5 → 5e-10"), result.stdout)
        XCTAssertTrue(result.stdout.contains("validation plateau at step 20: lr × 0.5 → 1.25e-10"), result.stdout)
        let final = try Checkpoint.read(path: "\(whole)/\(CheckpointStore.fileName(step: 20))").metadata.plateau
        XCTAssertEqual(final.factor, 0.125)

        let split = run.path("split")
        XCTAssertEqual(try run.run(ranks: 2, plateau + ["--steps", "10", "--checkpoint-dir", split]).status, 0)
        XCTAssertEqual(try Checkpoint.read(path: "\(split)/\(CheckpointStore.fileName(step: 10))").metadata.plateau.factor, 0.5)
        let resumed = try run.run(ranks: 2, plateau + ["--steps", "20", "--checkpoint-dir", split, "--resume", split])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(try Checkpoint.read(path: "\(split)/\(CheckpointStore.fileName(step: 20))").metadata.plateau, final)
    }

    func testPlateauAndEarlyStopNeedEvaluations() throws {
        for extra in [["--lr-schedule", "plateau"], ["--early-stop", "3"]] {
            let result = try run.run(ranks: 1, ["--steps", "5", "--eval-every", "0"] + extra)
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.stderr.contains("watch the validation loss: set eval-every"), result.output)
        }
    }
}
