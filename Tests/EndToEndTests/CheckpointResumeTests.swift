import Foundation
import RNN
import TestSupport
import XCTest
import Checkpoints
import Safetensors

/// Checkpoints, exact resume and preemption, on real ranks (docs/design.md §7, §8).
final class CheckpointResumeTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private let base = ["--data", "synthetic:markov", "--hidden", "24", "--seq-len", "16", "--global-batch", "12",
                        "--optimizer", "adam", "--lr", "0.01", "--log-every", "20"]

    private func parameterBytes(_ path: String) throws -> [String: [UInt8]] {
        let file = try SafetensorsFile.read(path: path)
        var bytes: [String: [UInt8]] = [:]
        for name in ["W_xh", "W_hh", "W_hy", "b_h", "b_y"] { bytes[name] = try XCTUnwrap(file.tensors[name]).bytes }
        return bytes
    }

    /// Interrupted at a random step (by SIGUSR1 to the ranks, or SIGTERM to mpirun) and
    /// resumed, a run ends bit for bit where the uninterrupted run ends.
    func testInterruptAndResumeIsBitIdentical() throws {
        let steps = 150
        let reference = run.path("reference.safetensors")
        let uninterrupted = try run.run(ranks: 2, base + ["--steps", "\(steps)", "--save", reference, "--quiet"])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.output)

        for (index, how) in ["SIGUSR1 to the ranks", "SIGTERM to mpirun"].enumerated() {
            let checkpoints = run.path("checkpoints-\(index)")
            let pidDirectory = run.path("pids-\(index)")
            try FileManager.default.createDirectory(atPath: pidDirectory, withIntermediateDirectories: true)
            let delay = Double.random(in: 0.2...1.2)
            var pids: [Int32] = []
            let interrupted = try run.run(ranks: 2, base + ["--steps", "\(steps)", "--checkpoint-dir", checkpoints,
                                                            "--debug-step-delay", "0.02", "--debug-pid-dir", pidDirectory]) { mpirun in
                pids = self.run.waitForPids(pidDirectory, ranks: 2)
                usleep(UInt32(delay * 1e6))
                if how.hasPrefix("SIGUSR1") {
                    for pid in pids { kill(pid, SIGUSR1) }
                } else {
                    kill(mpirun.processIdentifier, SIGTERM)
                }
            }
            XCTAssertEqual(pids.count, 2)
            let stopLine = try XCTUnwrap(interrupted.stderr.split(separator: "\n").first { $0.contains("stopped by") },
                                         "\(how): no stop message\n\(interrupted.output)")
            XCTAssertTrue(stopLine.contains(how.hasPrefix("SIGUSR1") ? "SIGUSR1" : "SIGTERM"), String(stopLine))
            if how.hasPrefix("SIGUSR1") {
                XCTAssertEqual(interrupted.status, 3, "ranks exit 3 after checkpointing; mpirun passes it on\n\(interrupted.output)")
            } else {
                // mpirun forwards SIGTERM and the ranks checkpoint and exit 3 (the stop line
                // above), but mpirun, signalled itself, exits with its own code 1 (OpenMPI's
                // launcher; the README documents it).
                XCTAssertEqual(interrupted.status, 1, interrupted.output)
            }
            let saved = CheckpointStore(directory: checkpoints, keep: 3).checkpointSteps()
            let stoppedAt = try XCTUnwrap(saved.first, "\(how): no checkpoint written\n\(interrupted.output)")
            XCTAssertLessThan(stoppedAt, steps, "\(how): the run finished before the signal (delay \(delay) s)")

            let resumedPath = run.path("resumed-\(index).safetensors")
            let resumed = try run.run(ranks: 2, base + ["--steps", "\(steps)", "--checkpoint-dir", checkpoints,
                                                        "--resume", checkpoints, "--save", resumedPath])
            XCTAssertEqual(resumed.status, 0, resumed.output)
            XCTAssertTrue(resumed.stdout.contains("resumed from \(checkpoints)/\(CheckpointStore.fileName(step: stoppedAt)) at step \(stoppedAt)"),
                          resumed.output)
            XCTAssertEqual(try parameterBytes(resumedPath), try parameterBytes(reference),
                           "\(how) at step \(stoppedAt): resumed parameters differ from the uninterrupted run")
        }
    }

    /// Resuming with another rank count and the same global batch continues the same
    /// trajectory up to float rounding (RoundingSpread's bound, measured on this CPU).
    func testResumeWithAnotherRankCount() throws {
        func train(_ ranks: Int, _ arguments: [String], _ name: String, environment: [String: String] = [:]) throws -> [String: [Float]] {
            let path = run.path("\(name).safetensors")
            let result = try run.run(ranks: ranks, base + arguments + ["--save", path, "--quiet"], environment: environment)
            XCTAssertEqual(result.status, 0, result.output)
            return try SafetensorsFile.read(path: path).tensors.mapValues { try $0.floats() }
        }
        let reference = try train(1, ["--steps", "40"], "reference")
        let checkpoints = run.path("checkpoints")
        XCTAssertEqual(try run.run(ranks: 1, base + ["--steps", "20", "--checkpoint-dir", checkpoints, "--quiet"]).status, 0)
        let resumed = try train(3, ["--steps", "40", "--resume", checkpoints], "resumed")
        let bound = try RoundingSpread.bound(reference: reference, "resume") { environment, tag in
            try train(1, ["--steps", "40"], "reference-\(tag)", environment: environment)
        }
        let difference = ParameterDifference.maxRelative(reference, resumed)
        XCTAssertLessThan(difference, bound, "resumed on 3 ranks: relative difference \(difference)")
    }

    /// The recurrence kernel is chosen once per run (docs/kernels.md): measured at the model's
    /// shapes when the model is large enough to time, recorded in every checkpoint, kept by a
    /// resume (so the resumed run continues bit for bit where a run forced to the same kernel
    /// goes), and a checkpoint naming a kernel this CPU cannot run stops the resume with one line.
    func testKernelIsMeasuredRecordedAndKeptOnResume() throws {
        // H=128, 32 rows per rank: 4·B·H² = 2.1 MFLOP per step, above the tuner's minimum.
        let model = ["--data", "synthetic:markov", "--hidden", "128", "--seq-len", "8", "--batch-per-rank", "32",
                     "--optimizer", "adam", "--lr", "0.003", "--log-every", "10"]
        func kernel(_ output: String) throws -> (name: String, why: String) {
            let line = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("recurrence kernel: ") }, output)
            let text = String(line[line.range(of: "recurrence kernel: ")!.upperBound...])
            let name = String(text.prefix { $0 != " " })
            // "NAME (WHY)" or, for the BLAS, "blas (cells avx512) (WHY)": the last parentheses.
            let head = text.prefix { $0 != ";" }
            let why = head.lastIndex(of: "(").map { String(head[head.index(after: $0)...].prefix { $0 != ")" }) } ?? ""
            return (name, why)
        }
        // The measurement is what a run does when RNN_DIST_KERNEL is unset, whatever the
        // environment of the test process (Tests/kernel-paths.sh forces each kernel in turn).
        let unforced = ["RNN_DIST_KERNEL": ""]
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, model + ["--steps", "10", "--checkpoint-dir", checkpoints, "--checkpoint-every", "10"],
                                environment: unforced)
        XCTAssertEqual(first.status, 0, first.output)
        let measured = try kernel(first.stdout)
        XCTAssertEqual(measured.why, "fastest measured at the model's shapes", first.stdout)
        XCTAssertNotNil(RecurrenceKernel(name: measured.name, origin: .measured), measured.name)
        let path = "\(checkpoints)/\(CheckpointStore.fileName(step: 10))"
        XCTAssertEqual(try Checkpoint.read(path: path).metadata.recurrenceKernel, measured.name)

        let resumedPath = run.path("resumed.safetensors")
        let resumed = try run.run(ranks: 2, model + ["--steps", "20", "--resume", checkpoints, "--save", resumedPath],
                                  environment: unforced)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(try kernel(resumed.stdout).name, measured.name)
        XCTAssertEqual(try kernel(resumed.stdout).why, "recorded in the checkpoint")
        let forcedPath = run.path("forced.safetensors")
        let forced = try run.run(ranks: 2, model + ["--steps", "20", "--save", forcedPath],
                                 environment: ["RNN_DIST_KERNEL": measured.name])
        XCTAssertEqual(forced.status, 0, forced.output)
        XCTAssertEqual(try kernel(forced.stdout).why, "forced by RNN_DIST_KERNEL")
        XCTAssertEqual(try parameterBytes(resumedPath), try parameterBytes(forcedPath), "resume with the recorded kernel is bit-exact")

        // A model below the tuner's minimum is not timed: the instruction set decides.
        let tiny = try run.run(ranks: 1, base + ["--steps", "2"], environment: unforced)
        XCTAssertEqual(tiny.status, 0, tiny.output)
        XCTAssertEqual(try kernel(tiny.stdout).why, "best for this CPU")
        XCTAssertEqual(try kernel(tiny.stdout).name, RecurrenceKernel.best.name)

        var file = try SafetensorsFile.read(path: path)
        file.metadata["recurrence_kernel"] = "avx9000"
        try file.write(to: path)
        let refused = try run.run(ranks: 2, model + ["--steps", "20", "--resume", checkpoints], environment: unforced)
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.stderr.contains("the checkpoint was trained with the recurrence kernel avx9000, which this CPU cannot run"),
                      refused.output)
    }

    /// A truncated or bit-flipped newest checkpoint is reported and the older one is used;
    /// when none is valid the run stops with a clear error.
    func testCorruptNewestCheckpointFallsBackToOlder() throws {
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, base + ["--steps", "30", "--checkpoint-dir", checkpoints, "--checkpoint-every", "10", "--quiet"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertEqual(CheckpointStore(directory: checkpoints, keep: 3).checkpointSteps(), [30, 20, 10])
        let newest = "\(checkpoints)/\(CheckpointStore.fileName(step: 30))"
        let original = try Data(contentsOf: URL(fileURLWithPath: newest))

        let corruptions: [(String, Data)] = [
            ("truncated", original.prefix(original.count / 2)),
            ("one byte flipped", { var data = original; data[data.count - 100] ^= 0x10; return data }()),
        ]
        for (what, bytes) in corruptions {
            try bytes.write(to: URL(fileURLWithPath: newest))
            let resumed = try run.run(ranks: 2, base + ["--steps", "35", "--resume", checkpoints, "--quiet"])
            XCTAssertEqual(resumed.status, 0, "\(what): \(resumed.output)")
            XCTAssertTrue(resumed.stderr.contains("skipping \(newest)"), "\(what): the corrupt file is reported\n\(resumed.output)")
            XCTAssertTrue(resumed.stdout.contains("at step 20"), "\(what): resumed from the older checkpoint\n\(resumed.output)")
        }
        // Every checkpoint corrupt: a clear error, exit 1.
        for step in [10, 20] {
            try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(checkpoints)/\(CheckpointStore.fileName(step: step))"))
        }
        let none = try run.run(ranks: 2, base + ["--steps", "35", "--resume", checkpoints, "--quiet"])
        XCTAssertEqual(none.status, 1, none.output)
        XCTAssertTrue(none.stderr.contains("no valid checkpoint in \(checkpoints)"), none.output)
    }

    /// Only the newest K checkpoints stay; the files carry optimizer state and metadata.
    func testKeepsLastKAndStoresOptimizerState() throws {
        let checkpoints = run.path("checkpoints")
        let result = try run.run(ranks: 2, base + ["--steps", "50", "--checkpoint-dir", checkpoints,
                                                   "--checkpoint-every", "10", "--keep-checkpoints", "2", "--quiet"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(CheckpointStore(directory: checkpoints, keep: 2).checkpointSteps(), [50, 40])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: checkpoints).filter { !$0.hasPrefix("checkpoint-") }
        XCTAssertEqual(leftovers, [], "no temporary files remain")
        let checkpoint = try Checkpoint.read(path: "\(checkpoints)/\(CheckpointStore.fileName(step: 50))")
        XCTAssertEqual(checkpoint.metadata.step, 50)
        XCTAssertEqual(checkpoint.metadata.dataCursor, 50 * 12)
        XCTAssertEqual(checkpoint.metadata.shape.hiddenSize, 24)
        XCTAssertEqual(checkpoint.metadata.optimizerStepCount, 50)
        for prefix in ["", "adam.m.", "adam.v."] {
            for name in ["W_xh", "W_hh", "W_hy", "b_h", "b_y"] {
                XCTAssertNotNil(checkpoint.file.tensors[prefix + name], "\(prefix)\(name) missing")
            }
        }
        XCTAssertNotNil(checkpoint.file.metadata["data_checksum"])
    }

    /// A checkpoint that does not fit the configuration names both sides.
    func testMismatchedCheckpointIsAClearError() throws {
        let checkpoints = run.path("checkpoints")
        XCTAssertEqual(try run.run(ranks: 1, base + ["--steps", "5", "--checkpoint-dir", checkpoints, "--quiet"]).status, 0)
        let wrongHidden = try run.run(ranks: 2, base + ["--steps", "10", "--hidden", "32", "--resume", checkpoints, "--quiet"])
        XCTAssertEqual(wrongHidden.status, 1, wrongHidden.output)
        XCTAssertTrue(wrongHidden.stderr.contains("hidden size H is 24 in the checkpoint but 32 in the configuration"), wrongHidden.output)
        let wrongData = try run.run(ranks: 1, base + ["--steps", "10", "--data", "synthetic:recall", "--resume", checkpoints, "--quiet"])
        XCTAssertEqual(wrongData.status, 1, wrongData.output)
        XCTAssertTrue(wrongData.stderr.contains("the vocabulary is 12 symbols"), wrongData.output)
    }

    /// Python's safetensors reads a checkpoint, optimizer state included.
    func testPythonSafetensorsReadsACheckpoint() throws {
        let python: String
        do { python = try Python.importing(["numpy", "safetensors"], installing: ["numpy", "safetensors"]) } catch {
            throw XCTSkip("\(error)")
        }
        let checkpoints = run.path("checkpoints")
        XCTAssertEqual(try run.run(ranks: 2, base + ["--steps", "3", "--checkpoint-dir", checkpoints, "--quiet"]).status, 0)
        let path = "\(checkpoints)/\(CheckpointStore.fileName(step: 3))"
        let script = """
        import sys
        from safetensors.numpy import load_file
        from safetensors import safe_open
        t = load_file(sys.argv[1])
        with safe_open(sys.argv[1], "np") as f: meta = f.metadata()
        print(t["W_hh"].shape, t["adam.v.W_xh"].shape, meta["step"], meta["format"], float(t["b_y"][0]))
        """
        let result = try ProcessRunner.run(python, ["-c", script, path], timeout: 60)
        XCTAssertEqual(result.status, 0, result.output)
        let checkpoint = try Checkpoint.read(path: path)
        let b_y0 = try checkpoint.file.tensors["b_y"]!.floats()[0]
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "(24, 24) (24, 12) 3 rnn-dist-checkpoint \(Double(b_y0))")
    }
}
