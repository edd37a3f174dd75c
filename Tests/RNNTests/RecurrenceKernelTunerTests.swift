import Clock
import RNN
import XCTest

/// The tuner times every kernel this CPU runs at the model's shape, within its budget, and
/// every rank that sees the same times makes the same choice.
final class RecurrenceKernelTunerTests: XCTestCase {
    func testTinyModelsAreNotTimed() {
        let shape = RecurrenceKernelTuner.Shape(gates: 1, hiddenSize: 16, batchSize: 8, sequenceLength: 12)
        XCTAssertLessThan(shape.flopsPerStep, RecurrenceKernelTuner.minimumFlops)
        let timings = RecurrenceKernelTuner.measure(shape)
        XCTAssertEqual(timings, [])
        XCTAssertEqual(RecurrenceKernelTuner.choice(from: timings), .best)
        XCTAssertEqual(RecurrenceKernelTuner.choice(from: timings).origin, .instructionSet)
    }

    func testEveryCandidateIsTimedWithinTheBudget() {
        for gates in [1, 4] {
            let shape = RecurrenceKernelTuner.Shape(gates: gates, hiddenSize: 128, batchSize: 32, sequenceLength: 64)
            let start = MonotonicClock.seconds()
            let timings = RecurrenceKernelTuner.measure(shape, budgetSeconds: 0.3)
            let elapsed = MonotonicClock.seconds() - start
            XCTAssertEqual(timings.map(\.kernel), RecurrenceKernelTuner.candidateNames)
            let timed = Set(RecurrenceKernelTuner.candidates().map(\.name))
            XCTAssertTrue(timed.contains("blas") && timed.contains(RecurrenceKernel.best.name), "\(timed)")
            for timing in timings {
                XCTAssertEqual(timing.secondsPerStep.isFinite, timed.contains(timing.kernel), "\(timing.kernel)")
                if timed.contains(timing.kernel) {
                    XCTAssertGreaterThan(timing.secondsPerStep, 0)
                    XCTAssertNotNil(RecurrenceKernel(name: timing.kernel, origin: .measured), "a timed kernel runs here")
                }
            }
            // The loop ends after the round in which the budget ran out, and a warm-up round
            // precedes it: at most the budget and two rounds, a round being every candidate's
            // 32 steps (its fastest round's time; 1.5x for the rounds that ran slower).
            let round = timings.filter { $0.secondsPerStep.isFinite }.map { $0.secondsPerStep * 32 }.reduce(0, +)
            XCTAssertLessThan(elapsed, 0.3 + 2 * 1.5 * round, "G=\(gates): \(timings)")
            let chosen = RecurrenceKernelTuner.choice(from: timings)
            XCTAssertEqual(chosen.origin, .measured)
            XCTAssertEqual(chosen.name, timings.filter { $0.secondsPerStep.isFinite }.min { $0.secondsPerStep < $1.secondsPerStep }!.kernel)
            print("tuner G=\(gates) H=128 B=32: " + timings.map { "\($0.kernel) \(String(format: "%.1f", $0.gflops)) GF/s" }.joined(separator: ", "))
        }
    }

    /// The choice is a function of the times alone: the fastest finite one wins, an
    /// unsupported (infinite) one never does.
    func testTheFastestFiniteTimeIsChosen() {
        let shape = RecurrenceKernelTuner.Shape(gates: 1, hiddenSize: 512, batchSize: 32, sequenceLength: 64)
        var times = Dictionary(uniqueKeysWithValues: RecurrenceKernelTuner.candidateNames.map { ($0, 2e-4) })
        times["blas"] = 1e-4
        let timings = RecurrenceKernelTuner.candidateNames.map {
            RecurrenceKernelTuner.timing($0, secondsPerStep: times[$0]!, shape: shape)
        }
        XCTAssertEqual(RecurrenceKernelTuner.choice(from: timings).name, "blas")
        XCTAssertEqual(RecurrenceKernelTuner.choice(from: timings).products, .blas)
        let withoutBLAS = timings.map { $0.kernel == "blas" ? RecurrenceKernelTuner.timing("blas", secondsPerStep: .infinity, shape: shape) : $0 }
        XCTAssertNotEqual(RecurrenceKernelTuner.choice(from: withoutBLAS).products, .blas)
        XCTAssertEqual(timings[0].gflops, shape.flopsPerStep / 2e-4 / 1e9, accuracy: 1e-9)
    }
}
