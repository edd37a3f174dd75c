import BLASCore
import Foundation
import TestSupport
import XCTest

/// The real rnn-dist binary chooses OpenBLAS's kernel at start-up (docs/blas.md): it replaces
/// a generic kernel the library picked, respects a user's OPENBLAS_CORETYPE, and falls back
/// to the library's choice when its own fails the self-check. RNN_DIST_BLAS_TEST_START makes
/// the library start on Prescott on any CPU, so the replacement is exercised everywhere.
final class BLASCoreRunTests: XCTestCase {
    /// Every variable that steers the choice, removed so that the test alone sets them.
    private static let steering = ["OPENBLAS_CORETYPE", BLASCoreVariable.replaced, BLASCoreVariable.fallback,
                                   BLASCoreVariable.execFailed, BLASCoreVariable.auto, BLASCoreVariable.testStart,
                                   BLASCoreVariable.testSelfCheck]
    private static let scrub = steering.flatMap { ["-u", $0] }

    /// The best core for this CPU, or a skip where no core beats the generic one (no AVX).
    private func bestCore() throws -> ReplacementCore {
        let library = OpenBLASLibrary.loaded()
        guard library.isDynamicArch,
              let best = BLASCorePolicy.bestCore(cpu: .detect(), version: library.version ?? [0]) else {
            throw XCTSkip("this CPU or library has no core better than a generic one")
        }
        return best
    }

    /// `rnn-dist bench --blas --json` alone, in a scrubbed environment plus `environment`; its "blas" object.
    private func blasReport(_ environment: [String: String] = [:]) throws -> [String: Any] {
        let settings = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let result = try ProcessRunner.run("/usr/bin/env", Self.scrub + settings + [RNNDistRun.binary, "bench", "--blas", "--json"],
                                           environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(result.status, 0, result.output)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.output)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return try XCTUnwrap(object?["blas"] as? [String: Any], line)
    }

    func testAGenericStartIsReplacedByTheBestCore() throws {
        let best = try bestCore()
        let report = try blasReport([BLASCoreVariable.testStart: "Prescott"])
        XCTAssertEqual(report["kernel"] as? String, best.rawValue)
        XCTAssertEqual(report["chosen_by"] as? String, "rnn-dist")
        XCTAssertEqual(report["library_picked"] as? String, "Prescott")
        XCTAssertEqual(report["blas_core"] as? String,
                       "OpenBLAS \(OpenBLASLibrary.loaded().versionText) \(best.rawValue) (chosen by rnn-dist; the library picked Prescott)")
    }

    func testTheLibrarysOwnPickIsReplacedOnlyWhenItIsOlderThanTheCPU() throws {
        let best = try bestCore()
        let own = try blasReport([BLASCoreVariable.auto: "0"])
        let picked = try XCTUnwrap(own["kernel"] as? String)
        let report = try blasReport()
        if let level = KernelLevel.of(core: picked), level < best.level {
            XCTAssertEqual(report["kernel"] as? String, best.rawValue, "the library picked \(picked)")
            XCTAssertEqual(report["library_picked"] as? String, picked)
        } else {
            XCTAssertEqual(report["kernel"] as? String, picked)
            XCTAssertEqual(report["chosen_by"] as? String, "library")
        }
    }

    func testAUserSetCoreTypeIsRespected() throws {
        _ = try bestCore()
        let report = try blasReport(["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(report["kernel"] as? String, "Prescott")
        XCTAssertEqual(report["chosen_by"] as? String, "OPENBLAS_CORETYPE")
    }

    func testAFailedSelfCheckFallsBackToTheLibrarysChoice() throws {
        let best = try bestCore()
        let own = try XCTUnwrap(try blasReport([BLASCoreVariable.auto: "0"])["kernel"] as? String)
        // "wrong": the product differs from the loop; "crash": SIGILL inside the check's sgemm.
        for failure in ["wrong", "crash"] {
            let report = try blasReport([BLASCoreVariable.testStart: "Prescott", BLASCoreVariable.testSelfCheck: failure])
            XCTAssertEqual(report["kernel"] as? String, own, failure)
            XCTAssertEqual(report["chosen_by"] as? String, "library", failure)
            XCTAssertEqual(report["note"] as? String, "rnn-dist's \(best.rawValue) failed its self-check", failure)
        }
    }

    /// Under a bare mpirun every rank re-execs before MPI starts, and the bench JSON says which kernel ran.
    func testEveryRankUnderMPIRunRunsTheReplacement() throws {
        let best = try bestCore()
        let arguments = Self.scrub + [MPIRun.mpirun] + MPIRun.launcherArguments(ranks: 2)
            + ["-x", "\(BLASCoreVariable.testStart)=Prescott", RNNDistRun.binary, "bench", "--hidden", "16",
               "--warmup", "0", "--timed", "2", "--json"]
        let result = try ProcessRunner.run("/usr/bin/env", arguments, timeout: 120)
        XCTAssertEqual(result.status, 0, result.output)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.output)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["ranks"] as? Int, 2)
        XCTAssertEqual(object["blas_core"] as? String,
                       "OpenBLAS \(OpenBLASLibrary.loaded().versionText) \(best.rawValue) (chosen by rnn-dist; the library picked Prescott)")
    }

    /// The ceiling runs the instructions the code under test runs: an AVX-512 recurrence kernel
    /// beside an OpenBLAS held to Haswell is measured against an AVX-512 sgemm in a separate
    /// process (the percentage passed 100 before); the AVX2 regime stays in the process.
    func testTheCeilingRunsTheRecurrenceKernelsInstructionSet() throws {
        let best = try bestCore()
        guard best.level == .avx512 else { throw XCTSkip("no AVX-512 core here: the ceiling never leaves the process") }
        /// ranks 0: `bench --kernel` alone; otherwise the training bench under mpirun.
        func kernelBench(_ kernel: String, ranks: Int) throws -> [String: Any] {
            let settings = ["OPENBLAS_CORETYPE=Haswell", "RNN_DIST_KERNEL=\(kernel)"]
            let shape = ["--hidden", "32", "--seq-len", "8", "--batch-per-rank", "4", "--warmup", "0", "--timed", "1", "--json"]
            let arguments = ranks == 0
                ? Self.scrub + settings + [RNNDistRun.binary, "bench", "--kernel"] + shape
                : Self.scrub + settings + [MPIRun.mpirun] + MPIRun.launcherArguments(ranks: ranks)
                    + ["-x", "OPENBLAS_CORETYPE", "-x", "RNN_DIST_KERNEL", RNNDistRun.binary, "bench"] + shape
            let result = try ProcessRunner.run("/usr/bin/env", arguments, timeout: 120, environment: ["OPENBLAS_NUM_THREADS": "1"])
            XCTAssertEqual(result.status, 0, result.output)
            let line = try XCTUnwrap(result.stdout.split(separator: "\n").last.map(String.init), result.output)
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
        }
        for ranks in [0, 2] {
            let wide = try kernelBench("avx512", ranks: ranks)
            XCTAssertEqual(wide["sgemm_core"] as? String, best.rawValue, "ranks \(ranks)")
            XCTAssertEqual(wide["sgemm_separate_process"] as? Bool, true, "ranks \(ranks)")
            XCTAssertEqual(wide["sgemm_note"] as? String, "this process's Haswell is narrower than the recurrence kernel")
            let regime = try kernelBench("avx2", ranks: ranks)
            XCTAssertEqual(regime["sgemm_core"] as? String, "Haswell", "ranks \(ranks)")
            XCTAssertEqual(regime["sgemm_separate_process"] as? Bool, false, "ranks \(ranks)")
        }
    }
}
