import Foundation
import TestSupport
import XCTest

/// `--trace`: the Chrome trace-event file of real 2-rank runs (train and bench) — it parses,
/// every event carries the fields a viewer needs, events nest, every rank is there, and each
/// step is partitioned by its phases.
final class TraceRunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    /// H=256 over the markov task's 12 symbols: 71,948 parameters, above the 65,536 below which
    /// the gradient is one piece, so several buckets are reduced while BPTT runs.
    private let model = ["--data", "synthetic:markov", "--hidden", "256", "--seq-len", "16", "--global-batch", "8"]

    func testTrainTraceNestsAndEachStepIsItsPhases() throws {
        try assertTrainTrace(steps: 6, extra: [], microBatches: 1)
    }

    /// With gradient accumulation a step has a forward and a backward per micro-batch.
    func testAccumulatingStepsHaveAForwardAndBackwardPerMicroBatch() throws {
        try assertTrainTrace(steps: 4, extra: ["--accumulate", "2"], microBatches: 2)
    }

    /// The same checks with the other allreduces, whose bucket events come from their own
    /// observer calls: the two-level ones (on one host: rings' within-host reduce-scatter and
    /// allgather, the piece summed when its scatter has arrived; leaders' gather to rank 0 and
    /// replies) and the MPI library's (a piece started at MPI_Start, summed when MPI_Test or
    /// MPI_Wait finds it complete).
    func testTwoLevelAllreduceTraceNestsAndEachStepIsItsPhases() throws {
        try assertTrainTrace(steps: 4, extra: ["--allreduce", "two-level", "--two-level-cross-host", "rings"], microBatches: 1)
        try assertTrainTrace(steps: 4, extra: ["--allreduce", "two-level", "--two-level-cross-host", "leaders"], microBatches: 1)
    }

    func testLibraryAllreduceTraceNestsAndEachStepIsItsPhases() throws {
        try assertTrainTrace(steps: 4, extra: ["--allreduce", "mpi"], microBatches: 1)
    }

    private func assertTrainTrace(steps: Int, extra: [String], microBatches: Int) throws {
        let trace = run.path("trace.json")
        let result = try run.run(ranks: 2, model + [
            "--steps", "\(steps)", "--log-every", "2", "--eval-every", "2", "--eval-tokens", "512",
            "--checkpoint-dir", run.path("ck"), "--checkpoint-every", "2", "--trace", trace,
        ] + extra)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("trace written to \(trace)"), result.stdout)
        let parameters = try XCTUnwrap(result.stdout.firstMatch(of: #/, (\d+) parameters/#).flatMap { Int($0.1) }, result.stdout)
        let events = try TraceFile(path: trace, ranks: 2)

        for rank in 0..<2 {
            let mine = events.complete.filter { $0.pid == rank }
            let stepEvents = mine.filter { $0.name == "step" }
            XCTAssertEqual(stepEvents.map(\.step), Array(1...steps), "rank \(rank): one step event per step")
            for step in stepEvents {
                // The phases that partition a step: batch, forward and backward (one of each per
                // micro-batch), allreduce wait, clip, optimizer — on the training thread, inside it.
                let phases = mine.filter { $0.category == "phase" && $0.tid == step.tid && $0.step == step.step }
                XCTAssertEqual(phases.map(\.name).sorted(),
                               (["batch", "allreduce wait", "clip", "optimizer"]
                                + Array(repeating: "forward", count: microBatches) + Array(repeating: "backward", count: microBatches)).sorted(),
                               "rank \(rank) step \(step.step)")
                for phase in phases {
                    XCTAssertTrue(phase.ts >= step.ts - 0.001 && phase.end <= step.end + 0.001, "\(phase) outside \(step)")
                }
                // The phases are taken back to back (one clock reading ends one and starts the
                // next, or a few stores lie between them), and nesting (checked below) keeps
                // them from overlapping, so their sum falls short of the step by those few
                // instructions — nanoseconds in a step of hundreds of microseconds. 5% fails
                // when a phase is missing or mis-timed: the smallest ones measured here are
                // the clip and batch (about 2% each), forward and backward are ≥ 10%.
                let sum = phases.map(\.dur).reduce(0, +)
                XCTAssertEqual(sum, step.dur, accuracy: 0.05 * step.dur, "rank \(rank) step \(step.step): phases \(phases)")

                // Every bucket's reduction belongs to a step: together they are the gradient,
                // each element in exactly one bucket (4 bytes a float).
                let buckets = mine.filter { $0.name == "bucket reduction" && $0.step == step.step }
                XCTAssertGreaterThan(buckets.count, 1, "several buckets")
                XCTAssertEqual(buckets.compactMap { $0.args["bytes"] as? Int }.reduce(0, +), 4 * parameters)
                XCTAssertEqual(Set(buckets.compactMap { $0.args["bucket"] as? Int }).count, buckets.count)
                XCTAssertTrue(buckets.allSatisfy { $0.tid >= 2 }, "buckets on the allreduce tracks")
                // Overlap: the first bucket starts while the (last) backward pass still runs.
                let backward = try XCTUnwrap(phases.filter { $0.name == "backward" }.max { $0.ts < $1.ts })
                XCTAssertLessThan(try XCTUnwrap(buckets.map(\.ts).min()), backward.end, "no bucket overlapped BPTT")
            }
            // Between steps: evaluations and checkpoints (every 2 steps; the last checkpoint is the final one).
            XCTAssertEqual(mine.filter { $0.name == "evaluation" }.map(\.step), Array(stride(from: 2, through: steps, by: 2)))
            XCTAssertEqual(mine.filter { $0.name == "checkpoint" }.count, steps / 2)
        }
    }

    func testBenchTraceIsValid() throws {
        let trace = run.path("bench.json")
        let result = try run.run(ranks: 2, ["bench", "--hidden", "32", "--seq-len", "16", "--batch-per-rank", "4",
                                            "--warmup", "2", "--timed", "3", "--trace", trace])
        XCTAssertEqual(result.status, 0, result.output)
        let events = try TraceFile(path: trace, ranks: 2)
        for rank in 0..<2 {
            XCTAssertEqual(events.complete.filter { $0.pid == rank && $0.name == "step" }.map(\.step), Array(1...5))
            XCTAssertEqual(events.complete.filter { $0.pid == rank && $0.name == "bucket reduction" }.count, 5, "one piece per step")
        }

        // The picture of it: both ranks, a bar per interval of the steps asked for.
        let svg = run.path("bench.svg")
        let plot = try run.runAlone(["plot", "--timeline", trace, "--steps", "2-3", "-o", svg])
        XCTAssertEqual(plot.status, 0, plot.output)
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(text.contains(">rank 0<") && text.contains(">rank 1<"), text)
        XCTAssertTrue(text.contains(">step 2<") && text.contains(">step 3<"), text)
        for outside in [1, 4, 5] { XCTAssertFalse(text.contains(">step \(outside)<"), "step \(outside) lies outside --steps 2-3") }
        let bad = try run.runAlone(["plot", "--timeline", trace, "--steps", "9-12", "-o", svg])
        XCTAssertEqual(bad.status, 1, bad.output)
        XCTAssertTrue(bad.stderr.contains("has no step in 9-12"), bad.stderr)
    }

    /// An unwritable trace path is bad input found before training: exit 1, one line, no file.
    func testUnwritableTracePathStopsBeforeTraining() throws {
        let trace = run.path("missing/trace.json")
        let result = try run.run(ranks: 2, model + ["--steps", "2", "--trace", trace])
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertTrue(result.stderr.contains("cannot write the trace"), result.stderr)
        XCTAssertFalse(result.stdout.contains("step 1/"), result.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: trace))
    }
}

/// A trace file read back with the checks every trace must pass.
private struct TraceFile {
    struct Event: CustomStringConvertible {
        let name: String, category: String, pid: Int, tid: Int, ts: Double, dur: Double, args: [String: Any]
        var end: Double { ts + dur }
        var step: Int { args["step"] as? Int ?? -1 }
        var description: String { "\(name)@\(pid)/\(tid) [\(ts), \(end)]" }
    }

    let complete: [Event]

    init(path: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let raw = try XCTUnwrap(document["traceEvents"] as? [[String: Any]], file: file, line: line)
        var complete: [Event] = []
        for event in raw {
            let phase = try XCTUnwrap(event["ph"] as? String, "\(event)", file: file, line: line)
            XCTAssertNotNil(event["name"] as? String, "\(event)", file: file, line: line)
            XCTAssertNotNil(event["pid"] as? Int, "\(event)", file: file, line: line)
            XCTAssertNotNil(event["args"] as? [String: Any], "\(event)", file: file, line: line)
            switch phase {
            case "M": continue
            case "X":
                let ts = try XCTUnwrap(event["ts"] as? Double, "\(event)", file: file, line: line)
                let dur = try XCTUnwrap(event["dur"] as? Double, "\(event)", file: file, line: line)
                XCTAssertGreaterThanOrEqual(dur, 0, "\(event)", file: file, line: line)
                complete.append(Event(name: event["name"] as? String ?? "", category: try XCTUnwrap(event["cat"] as? String),
                                      pid: event["pid"] as? Int ?? -1, tid: try XCTUnwrap(event["tid"] as? Int, "\(event)"),
                                      ts: ts, dur: dur, args: event["args"] as? [String: Any] ?? [:]))
            default: XCTFail("unexpected event type \(phase)", file: file, line: line)
            }
        }
        self.complete = complete
        let names = raw.filter { $0["name"] as? String == "process_name" }
            .map { ($0["pid"] as? Int ?? -1, ($0["args"] as? [String: Any])?["name"] as? String ?? "") }
        XCTAssertEqual(names.map(\.0), Array(0..<ranks), "every rank named", file: file, line: line)
        XCTAssertEqual(names.map(\.1), (0..<ranks).map { "rank \($0)" }, file: file, line: line)
        XCTAssertEqual(Set(complete.map(\.pid)), Set(0..<ranks), "every rank has events", file: file, line: line)
        XCTAssertEqual((document["otherData"] as? [String: Any])?["dropped_events"] as? [Int], Array(repeating: 0, count: ranks),
                       file: file, line: line)
        // The clocks line up: a bucket's sum cannot arrive on one rank before another rank has
        // made its part ready (the ring sends a rank's part only after that), so each rank's
        // end of a bucket is after every other rank's start of it in true time; on the merged
        // clocks it may be early only by the two ranks' alignment errors, which the file
        // states (bounded causally by the start-up barriers), plus the 1 ns of rounding.
        let clockError = try XCTUnwrap((document["otherData"] as? [String: Any])?["clock_error_us"] as? [Double], file: file, line: line)
        XCTAssertEqual(clockError.count, ranks, file: file, line: line)
        let buckets = Dictionary(grouping: complete.filter { $0.name == "bucket reduction" }) {
            "\($0.step)/\($0.args["bucket"] as? Int ?? -1)"
        }
        for (key, copies) in buckets {
            for a in copies {
                for b in copies where b.pid != a.pid {
                    XCTAssertGreaterThanOrEqual(a.end, b.ts - clockError[a.pid] - clockError[b.pid] - 0.002, "bucket \(key): rank \(a.pid) summed it before rank \(b.pid) started it",
                                                file: file, line: line)
                }
            }
        }
        // Nesting: on each rank and thread, in start order, an event lies wholly inside the
        // innermost open one or starts after it ends (timestamps have 1 ns resolution).
        for key in Set(complete.map { "\($0.pid)/\($0.tid)" }) {
            let track = complete.filter { "\($0.pid)/\($0.tid)" == key }.sorted { $0.ts != $1.ts ? $0.ts < $1.ts : $0.dur > $1.dur }
            var open: [Event] = []
            for event in track {
                while let parent = open.last, event.ts >= parent.end - 0.001 { open.removeLast() }
                if let parent = open.last {
                    XCTAssertLessThanOrEqual(event.end, parent.end + 0.001, "\(event) overlaps \(parent) without nesting", file: file, line: line)
                }
                open.append(event)
            }
        }
    }
}
