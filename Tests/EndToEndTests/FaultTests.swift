import Foundation
import TestSupport
import XCTest
import Checkpoints

/// Faults and bad input on real ranks (docs/design.md §8): nothing hangs, one clear message, the
/// documented exit code, nothing half-written.
final class FaultTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private let small = ["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12", "--global-batch", "8"]

    /// A rank killed with SIGKILL ends the whole job within seconds (OpenMPI notices the
    /// lost process and tears the job down), with mpirun's exit 137 and a message naming it.
    func testKilledRankEndsTheJob() throws {
        let pidDirectory = run.path("pids")
        try FileManager.default.createDirectory(atPath: pidDirectory, withIntermediateDirectories: true)
        var killedAt = Date()
        let result = try run.run(ranks: 4, small + ["--steps", "1000000", "--debug-step-delay", "0.005",
                                                    "--debug-pid-dir", pidDirectory, "--quiet"], timeout: 120) { _ in
            let pids = self.run.waitForPids(pidDirectory, ranks: 4)
            usleep(300_000)
            killedAt = Date()
            if pids.count == 4 { kill(pids[2], SIGKILL) }
        }
        let seconds = Date().timeIntervalSince(killedAt)
        XCTAssertFalse(result.timedOut, "the job hung after a rank died")
        // The rank never reaches an exit code of its own: mpirun reports the signal as a shell
        // does, 128 + 9. That is OpenMPI's mpirun (the launcher Launch/install-deps.sh
        // installs; srun reports it differently), and the README documents 137 for it.
        XCTAssertEqual(result.status, 137, result.output)
        XCTAssertLessThan(seconds, 20, "the job took \(seconds) s to end")
        XCTAssertTrue(result.output.contains("rank 2") && result.output.contains("signal 9"), result.output)
    }

    /// A stalled rank (SIGSTOP) trips the other ranks' watchdogs: the job ends with the
    /// watchdog's message naming the step and the wait, instead of hanging forever.
    func testStalledRankTripsTheWatchdog() throws {
        let pidDirectory = run.path("pids")
        try FileManager.default.createDirectory(atPath: pidDirectory, withIntermediateDirectories: true)
        var stopped: Int32 = 0
        defer { if stopped > 0 { kill(stopped, SIGKILL) } }
        var stoppedAt = Date()
        let result = try run.run(ranks: 4, small + ["--steps", "1000000", "--debug-step-delay", "0.005",
                                                    "--collective-timeout", "3", "--debug-pid-dir", pidDirectory, "--quiet"],
                                 timeout: 120) { _ in
            let pids = self.run.waitForPids(pidDirectory, ranks: 4)
            usleep(300_000)
            stoppedAt = Date()
            if pids.count == 4 { stopped = pids[1]; kill(stopped, SIGSTOP) }
        }
        let seconds = Date().timeIntervalSince(stoppedAt)
        XCTAssertFalse(result.timedOut, "the job hung on a stalled rank")
        // The first watchdog to fire calls MPI_Abort with the fault code, and mpirun passes on
        // the code of the aborting rank.
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertLessThan(seconds, 30)
        XCTAssertTrue(result.stderr.contains("has not completed after 3 s (collective-timeout 3 s)"), result.output)
        XCTAssertTrue(result.stderr.range(of: #"at step \d+"#, options: .regularExpression) != nil, result.output)
    }

    /// With --check-collectives, a rank that makes a different collective call is named
    /// instead of hanging or reducing mismatched data.
    func testMismatchedCollectiveIsNamed() throws {
        let result = try run.run(ranks: 3, small + ["--steps", "5", "--check-collectives", "--debug-mismatch-rank", "1",
                                                    "--quiet"], timeout: 60)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.stderr.contains("collective mismatch before"), result.output)
        XCTAssertTrue(result.stderr.contains("at step 2"), result.output)
        let healthy = try run.run(ranks: 3, small + ["--steps", "5", "--check-collectives", "--quiet"], timeout: 60)
        XCTAssertEqual(healthy.status, 0, healthy.output)
    }

    /// A non-finite gradient is skipped on every rank and counted, or stops the run.
    func testNonFiniteGradientSkippedOrStopped() throws {
        let skipped = try run.run(ranks: 2, small + ["--steps", "10", "--debug-nan-at-step", "4", "--quiet"])
        XCTAssertEqual(skipped.status, 0, skipped.output)
        XCTAssertTrue(skipped.stdout.contains("skipped steps (non-finite gradient): 1"), skipped.output)
        XCTAssertTrue(skipped.stdout.contains("identical on all 2 ranks"), skipped.output)

        let stopped = try run.run(ranks: 2, small + ["--steps", "10", "--debug-nan-at-step", "4", "--on-nonfinite", "stop", "--quiet"])
        XCTAssertEqual(stopped.status, 2, stopped.output)
        XCTAssertTrue(stopped.stderr.contains("non-finite gradient (norm nan) at step 4"), stopped.output)
    }

    /// A checkpoint directory on a full filesystem: the write fails with a clear error,
    /// exit 2, and the previous checkpoint stays intact and usable.
    func testFullFilesystemKeepsThePreviousCheckpoint() throws {
        guard geteuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let mountPoint = run.path("small-disk")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        // One checkpoint of this model is ~69 KB (parameters + Adam's m and v): the second
        // cannot be written beside the first in 100 KB.
        let mount = try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=100k", "tmpfs", mountPoint], timeout: 30)
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(mount.output)") }
        defer { _ = try? ProcessRunner.run("/bin/umount", [mountPoint], timeout: 30) }

        let arguments = ["--data", "synthetic:markov", "--hidden", "64", "--seq-len", "12", "--global-batch", "8",
                         "--checkpoint-dir", mountPoint, "--checkpoint-every", "5", "--keep-checkpoints", "3", "--quiet"]
        let result = try run.run(ranks: 2, arguments + ["--steps", "20"])
        XCTAssertEqual(result.status, 2, result.output)
        XCTAssertTrue(result.stderr.contains("cannot write checkpoint \(mountPoint)/checkpoint-00000010.safetensors"), result.output)
        XCTAssertTrue(result.stderr.contains("No space left on device"), result.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mountPoint), ["checkpoint-00000005.safetensors"],
                       "no temporary file is left behind")
        let intact = try Checkpoint.read(path: "\(mountPoint)/checkpoint-00000005.safetensors")
        XCTAssertEqual(intact.metadata.step, 5)
    }

    /// The bad-input table: each a one-line message from rank 0, exit 1, no crash trace, no hang.
    func testBadInputsGiveOneClearLine() throws {
        let directory = run.directory
        try Data().write(to: URL(fileURLWithPath: "\(directory)/empty.txt"))
        try Data("to be".utf8).write(to: URL(fileURLWithPath: "\(directory)/short.txt"))
        try Data([0x66, 0x6f, 0xff, 0xfe, 0x6f]).write(to: URL(fileURLWithPath: "\(directory)/latin.txt"))
        try Data("hidden: [1, 2\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/malformed.yaml"))
        try Data("hiden: 8\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/unknown.yaml"))
        try Data("this is not safetensors".utf8).write(to: URL(fileURLWithPath: "\(directory)/not.safetensors"))
        // A real parameter file for H=8, then used with H=16.
        XCTAssertEqual(try run.run(ranks: 1, small + ["--hidden", "8", "--steps", "1", "--save", "\(directory)/h8.safetensors", "--quiet"]).status, 0)

        let table: [([String], String)] = [
            (["--data", "\(directory)/missing.txt"], "corpus file not found: \(directory)/missing.txt"),
            (["--data", "\(directory)/empty.txt"], "is empty"),
            (["--data", "\(directory)/short.txt"], "sequence length 12 needs at least 13"),
            (["--data", "\(directory)/latin.txt"], "not valid UTF-8 (first invalid sequence at byte offset 2)"),
            (["--hidden", "0"], "config key 'hidden' is 0, allowed: >= 1"),
            (["--seq-len", "-4"], "config key 'seq-len' is -4, allowed: >= 1"),
            (["--global-batch", "0"], "config key 'global-batch' is 0"),
            (["--lr", "-0.1"], "config key 'lr' is -0.1"),
            (["--lr", "fast"], "config key 'lr' must be a number, got 'fast'"),
            (["--optimizer", "rmsprop"], "expected one of: sgd, adam, adagrad"),
            (["--config", "\(directory)/malformed.yaml"], "malformed YAML in \(directory)/malformed.yaml"),
            (["--config", "\(directory)/unknown.yaml"], "unknown config key 'hiden'"),
            (["--config", "\(directory)/absent.yaml"], "cannot read config file \(directory)/absent.yaml: no such file"),
            (["--init", "\(directory)/not.safetensors"], "not a valid safetensors file"),
            (["--init", "\(directory)/h8.safetensors"], "tensor 'W_xh' has shape [8, 12], the model needs [16, 12]"),
            (["--resume", "\(directory)/no-such-dir"], "resume path not found: \(directory)/no-such-dir"),
            (["--data", "synthetic:nope"], "unknown synthetic task 'nope'"),
            (["--optimizer", "sgd", "--momentum", "0", "--nesterov"], "nesterov"),
        ]
        for (arguments, expected) in table {
            let result = try run.run(ranks: 2, small + ["--steps", "3"] + arguments, timeout: 60)
            XCTAssertFalse(result.timedOut, "\(arguments) hung")
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") }
            XCTAssertEqual(lines.count, 1, "\(arguments): one message from rank 0 expected:\n\(result.stderr)")
            XCTAssertTrue(lines.first?.contains(expected) ?? false, "\(arguments): expected '\(expected)' in:\n\(result.stderr)")
            for trace in ["Fatal error", "Stack dump", "Current stack trace", "Segmentation"] {
                XCTAssertFalse(result.output.contains(trace), "\(arguments): crash trace\n\(result.output)")
            }
            XCTAssertEqual(result.stdout, "", "\(arguments): nothing but the error is printed")
        }
    }
}
