import Foundation
import TensorBoard
import TestSupport
import XCTest

/// Reads an event file back with TensorBoard's own reader (EventAccumulator, in Python).
/// Installs the `tensorboard` pip package when it is missing; skips, saying why, only when
/// there is no Python or pip cannot install it (offline).
final class RealReaderTests: XCTestCase {
    func testTensorBoardReadsTheScalarsBack() throws {
        let python: String
        do { python = try Python.importing(["tensorboard"], installing: ["tensorboard"]) } catch { throw XCTSkip("\(error)") }
        let directory = try TemporaryDirectory()

        let writer = try EventFileWriter(directory: directory.path)
        var written: [String: [(step: Int, value: Float)]] = [:]
        for step in stride(from: 10, through: 50, by: 10) {
            let loss = 2.5 / Double(step) + 0.7, norm = 1e-3 * Double(step * step)
            try writer.add(scalars: [("train/loss", loss), ("train/grad_norm", norm)], step: step,
                           wallTime: 1_700_000_000 + Double(step))
            written["train/loss", default: []].append((step, Float(loss)))
            written["train/grad_norm", default: []].append((step, Float(norm)))
        }
        try writer.add(scalar: "val/loss", value: 0.812345678, step: 50)
        written["val/loss"] = [(50, Float(0.812345678))]
        try writer.add(scalar: "perf/tokens_per_s", value: 1_637_019, step: 1_000_000_000_000)
        written["perf/tokens_per_s"] = [(1_000_000_000_000, Float(1_637_019))]
        try writer.close()

        let script = """
        import json, sys
        from tensorboard.backend.event_processing import event_accumulator as ea
        acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
        acc.Reload()
        out = {"file_version": acc.file_version, "scalars": {}}
        for tag in sorted(acc.Tags()["scalars"]):
            out["scalars"][tag] = [[e.step, e.value, e.wall_time] for e in acc.Scalars(tag)]
        print(json.dumps(out, sort_keys=True))
        """
        let result = try ProcessRunner.run(python, ["-c", script, directory.path], environment: ["TF_CPP_MIN_LOG_LEVEL": "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let output = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        print("TensorBoard EventAccumulator read: \(output)")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        // EventAccumulator keeps the number after "brain.Event:" of the file_version record.
        XCTAssertEqual(json["file_version"] as? Double, 2)
        let scalars = try XCTUnwrap(json["scalars"] as? [String: [[Double]]])
        XCTAssertEqual(Set(scalars.keys), Set(written.keys))
        for (tag, expected) in written {
            let read = try XCTUnwrap(scalars[tag], tag)
            XCTAssertEqual(read.map { Int($0[0]) }, expected.map(\.step), tag)
            // TensorBoard stores simple_value as float32: equal to Float(value) exactly.
            XCTAssertEqual(read.map { Float($0[1]) }, expected.map(\.value), tag)
        }
        XCTAssertEqual(scalars["train/loss"]?.first?[2], 1_700_000_010)
    }
}
