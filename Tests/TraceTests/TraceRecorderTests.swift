import Foundation
@testable import Trace
import XCTest

final class TraceRecorderTests: XCTestCase {
    func testOffRecordsNothingAndReadsNoClock() {
        let recorder = TraceRecorder.off()
        XCTAssertEqual(recorder.now(), 0)
        recorder.beginStep(1, reserving: 10)
        recorder.record(.forward, start: 1, end: 2)
        recorder.record(.step, since: 0)
        XCTAssertEqual(recorder.count, 0)
        XCTAssertEqual(recorder.dropped, 0)
    }

    /// A full buffer stops at a step boundary: the step that would not fit whole is not begun,
    /// and everything after is counted as dropped.
    func testFullBufferDropsWholeStepsAndCounts() {
        let recorder = TraceRecorder.on(capacity: 7)
        for step in 1...3 {
            recorder.beginStep(step, reserving: 3)
            recorder.record(.forward, start: 0, end: 1)
            recorder.record(.backward, start: 1, end: 2)
            recorder.record(.step, start: 0, end: 2)
        }
        XCTAssertEqual(recorder.count, 6, "steps 1 and 2")
        XCTAssertEqual(recorder.dropped, 3)
        XCTAssertEqual(recorder.firstDroppedStep, 3)
        XCTAssertEqual(Set(recorder.recorded.map(\.step)), [1, 2])
    }

    func testLanesNeverOverlap() {
        let spans: [(Double, Double)] = [(0, 5), (1, 3), (2, 8), (3, 4), (5, 6), (8, 9)]
        let events = spans.map { TraceEvent(phase: .bucket, track: .allreduce, start: $0.0, end: $0.1, step: 1, index: 0, bytes: 4) }
        let lanes = ChromeTrace.lanes(events)
        for i in events.indices {
            for j in events.indices where j > i && lanes[i] == lanes[j] {
                XCTAssertTrue(events[i].end <= events[j].start || events[j].end <= events[i].start, "\(i) and \(j) share lane \(lanes[i])")
            }
        }
        XCTAssertEqual(lanes, [0, 1, 2, 1, 0, 0])
    }

    func testMicrosecondsAreExactDecimals() {
        XCTAssertEqual(ChromeTrace.microseconds(1.5e-3), "1500.000")
        XCTAssertEqual(ChromeTrace.microseconds(2.0000015), "2000001.500")
        XCTAssertEqual(ChromeTrace.microseconds(-3e-9), "-0.003")
        XCTAssertEqual(ChromeTrace.microseconds(0), "0.000")
    }

    /// An event that ends where the next begins stays adjacent in the file: start 0.6 ns and
    /// end 1.4 ns round to 1 ns each, so the forward has duration 0 and ends exactly where the
    /// backward (from 1.4 ns) starts. Rounding the duration (0.8 ns → 1) by itself would put
    /// the forward's end at 2 ns, 1 ns inside the backward.
    func testAdjacentEventsStayAdjacentAfterRounding() throws {
        let rank = ChromeTrace.Rank(events: [
            TraceEvent(phase: .forward, track: .training, start: 0.6e-9, end: 1.4e-9, step: 1, index: 0, bytes: 0),
            TraceEvent(phase: .backward, track: .training, start: 1.4e-9, end: 3e-9, step: 1, index: 0, bytes: 0),
        ], capacity: 2)
        let text = ChromeTrace.json(ranks: [rank], note: "")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let complete = try XCTUnwrap(document["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }
        let forward = try XCTUnwrap(complete.first { $0["name"] as? String == "forward" })
        let backward = try XCTUnwrap(complete.first { $0["name"] as? String == "backward" })
        let forwardEnd = try XCTUnwrap(forward["ts"] as? Double) + XCTUnwrap(forward["dur"] as? Double)
        XCTAssertEqual(forwardEnd, try XCTUnwrap(backward["ts"] as? Double), "\(forward) \(backward)")
    }

    /// The document parses, names each rank, and says when events were dropped.
    func testDocumentParsesWithMetadataAndDroppedNote() throws {
        let rank0 = ChromeTrace.Rank(events: [
            TraceEvent(phase: .step, track: .training, start: 0, end: 0.01, step: 1, index: 0, bytes: 0),
            TraceEvent(phase: .forward, track: .training, start: 0.001, end: 0.004, step: 1, index: 0, bytes: 0),
            TraceEvent(phase: .bucket, track: .allreduce, start: 0.005, end: 0.009, step: 1, index: 2, bytes: 4096),
        ], capacity: 10)
        let rank1 = ChromeTrace.Rank(events: [], dropped: 5, firstDroppedStep: 7, capacity: 10)
        let text = ChromeTrace.json(ranks: [rank0, rank1], note: "a \"quoted\" note")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let events = try XCTUnwrap(document["traceEvents"] as? [[String: Any]])
        let complete = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(complete.map { $0["name"] as? String }, ["step", "forward", "bucket reduction"])
        XCTAssertEqual(complete[2]["tid"] as? Int, ChromeTrace.firstLaneThread)
        XCTAssertEqual((complete[2]["args"] as? [String: Any])?["bytes"] as? Int, 4096)
        XCTAssertEqual(complete[1]["dur"] as? Double, 3000)
        let names = events.filter { $0["name"] as? String == "process_name" }.map { ($0["args"] as? [String: Any])?["name"] as? String }
        XCTAssertEqual(names, ["rank 0", "rank 1"])
        let other = try XCTUnwrap(document["otherData"] as? [String: Any])
        XCTAssertEqual(other["dropped_events"] as? [Int], [0, 5])
        XCTAssertTrue((other["dropped_note"] as? String)?.contains("rank 1: 5 events from step 7") == true, "\(other)")
        XCTAssertEqual(other["note"] as? String, "a \"quoted\" note")
    }

    /// The wait for the slowest rank: from a rank's allreduce wait start to the slowest
    /// rank's backward end, inside the wait; the slowest rank itself gets none.
    func testSlowestRankWaitIsDerivedInsideTheWait() {
        func event(_ phase: TracePhase, _ start: Double, _ end: Double, step: Int32 = 1) -> TraceEvent {
            TraceEvent(phase: phase, track: .training, start: start, end: end, step: step, index: 0, bytes: 0)
        }
        let fast = ChromeTrace.Rank(events: [event(.backward, 1, 2), event(.allreduceWait, 2, 9)], capacity: 4)
        let slow = ChromeTrace.Rank(events: [event(.backward, 1, 6), event(.allreduceWait, 6, 9)], capacity: 4)
        let waits = ChromeTrace.slowestRankWaits([fast, slow])
        XCTAssertEqual(waits[0], [TraceEvent(phase: .slowestRank, track: .training, start: 2, end: 6, step: 1, index: 1, bytes: 0)])
        XCTAssertEqual(waits[1], [])
    }

    /// Rank 1's clock reads 5 more than rank 0's. Barrier 1: both enter at true time 0 and
    /// leave at 1. Barrier 2: rank 0 enters at 2, rank 1 (late) at 4, both leave at 5 — rank 1
    /// reads 9, 10. The bounds: θ ≥ max(5 − 1, 9 − 5) = 4, θ ≤ min(6 − 0, 10 − 2) = 6, so θ = 5
    /// ± 1; rank 1's zero (10) is rank 0's 5, its own zero: shift 0.
    func testClockOffsetIsBoundedByTheBarriers() {
        let clocks = ChromeTrace.corrections(entries: [[0, 2], [5, 9]], exits: [[1, 5], [6, 10]])
        XCTAssertEqual(clocks.map(\.shift), [0, 0])
        XCTAssertEqual(clocks.map(\.error), [0, 1], "rank 0 is the reference")
    }
}
