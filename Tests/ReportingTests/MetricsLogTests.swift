import Foundation
import TestSupport
import XCTest
import Reporting

final class MetricsLogTests: XCTestCase {
    func testReadsRecordsNullsAndSkipsBlankLinesAndArrays() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.file("m.jsonl", text: """
        {"step":10,"tokens":640,"loss":2.5,"grad_norm":0.4,"tokens_per_s":1000,"rank_compute_s":[0.1,0.2]}

        {"step":20,"tokens":1280,"loss":null,"grad_norm":0.3,"tokens_per_s":1100,"val_loss":2.2,"note":"x"}

        """)
        let records = try MetricsLog.read(path: path)
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records[0].line, 1)
        XCTAssertEqual(records[1].line, 3)
        XCTAssertEqual(records[0].step, 10)
        XCTAssertEqual(records[0].tokens, 640)
        XCTAssertEqual(records[0].loss, 2.5)
        XCTAssertEqual(records[0].gradientNorm, 0.4)
        XCTAssertEqual(records[0].tokensPerSecond, 1000)
        XCTAssertNil(records[0].validationLoss)
        XCTAssertNil(records[0]["rank_compute_s"])
        XCTAssertTrue(try XCTUnwrap(records[1].loss).isNaN)
        XCTAssertEqual(records[1].validationLoss, 2.2)
        XCTAssertNil(records[1]["note"])
    }

    func testReadsWhatMetricsWriterWrites() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/sub/metrics.jsonl"
        do {
            let writer = try MetricsWriter(path: path)
            writer.write(["step": 50, "loss": 1.25, "tokens": 3200, "grad_norm": NSNull()])
            writer.write(["step": 100, "loss": 1.0, "tokens": 6400, "grad_norm": 0.5])
        }
        let records = try MetricsLog.read(path: path)
        XCTAssertEqual(records.map(\.step), [50, 100])
        XCTAssertEqual(records.map(\.tokens), [3200, 6400])
        XCTAssertTrue(records[0].gradientNorm!.isNaN)
    }

    func testMissingFile() {
        assertThrows(try MetricsLog.read(path: "/nonexistent/metrics.jsonl"),
                     containing: ["/nonexistent/metrics.jsonl", "does not exist"])
    }

    func testEmptyFile() throws {
        let directory = try TemporaryDirectory()
        let empty = try directory.file("empty.jsonl", text: "")
        assertThrows(try MetricsLog.read(path: empty), containing: ["empty.jsonl", "is empty"])
        let blank = try directory.file("blank.jsonl", text: "\n  \n")
        assertThrows(try MetricsLog.read(path: blank), containing: ["blank.jsonl", "is empty"])
    }

    func testLineThatIsNotJSONIsNamedByNumber() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.file("bad.jsonl", text: "{\"step\":1}\n{\"step\":2}\nstep=3 loss=1.0\n{\"step\":4}\n")
        assertThrows(try MetricsLog.read(path: path), containing: ["bad.jsonl", "line 3", "not JSON", "step=3 loss=1.0"])
        // Also when it is the last line, if that line is complete (ends with a newline).
        let last = try directory.file("last.jsonl", text: "{\"step\":1}\n{\"step\":\n")
        assertThrows(try MetricsLog.read(path: last), containing: ["line 2", "not JSON"])
        let array = try directory.file("array.jsonl", text: "{\"step\":1}\n[1,2]\n")
        assertThrows(try MetricsLog.read(path: array), containing: ["line 2", "not a JSON object"])
    }

    /// A live run may be in the middle of writing its last line: that partial line is ignored.
    func testUnfinishedLastLineOfALiveRunIsIgnored() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.file("live.jsonl", text: "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo")
        XCTAssertEqual(try MetricsLog.read(path: path).map(\.step), [1, 2])
    }

    func testDirectoryIsNotAFile() throws {
        let directory = try TemporaryDirectory()
        assertThrows(try MetricsLog.read(path: directory.path), containing: ["it is a directory"])
    }
}
