import Foundation
import TestSupport
import XCTest

final class PlotCommandTests: XCTestCase {
    /// `rnn-dist plot` end to end (the binary, no MPI): an SVG page with the panels and axis
    /// labels, and the errors exit 1 with the reason.
    func testPlotCommand() throws {
        let run = try RNNDistRun()
        defer { run.remove() }
        guard FileManager.default.isExecutableFile(atPath: RNNDistRun.binary) else {
            throw XCTSkip("rnn-dist is not built at \(RNNDistRun.binary)")
        }
        var lines: [String] = []
        for i in 1...30 {
            let loss = 0.8 + 2 / Double(i)
            lines.append("{\"step\":\(10 * i),\"tokens\":\(20480 * i),\"loss\":\(loss),\"grad_norm\":\(0.5 / Double(i)),"
                + "\"tokens_per_s\":\(200000 + 1000 * i)\(i % 10 == 0 ? ",\"val_loss\":\(loss + 0.05)" : "")}")
        }
        let metrics = run.path("metrics.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
        let result = try run.runAlone(["plot", metrics, "-o", run.path("curves.svg")])
        XCTAssertEqual(result.status, 0, result.output)
        let svg = try String(contentsOfFile: run.path("curves.svg"), encoding: .utf8)
        for fragment in ["Training curves: metrics.jsonl", "Loss", "train loss", "validation loss",
                         "Gradient norm before clipping", "(log scale)", "Throughput", "tokens trained (thousands)",
                         "cross-entropy (nats/token)", "tokens/s, all ranks (thousands)"] {
            XCTAssertTrue(svg.contains(fragment), "the SVG lacks '\(fragment)'")
        }
        XCTAssertEqual(svg.components(separatedBy: "class=\"panel\"").count - 1, 3)
        XCTAssertFalse(svg.contains("imbalance"))

        // Default output name: beside the input, .svg.
        XCTAssertEqual(try run.runAlone(["plot", metrics]).status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.path("metrics.svg")))

        // Several runs on one page: their losses over the floor against step and minutes, with
        // reference lines; --label must match the files one to one.
        let faster = run.path("faster.jsonl")
        try (lines.map { $0.replacingOccurrences(of: "\"tokens_per_s\":2", with: "\"tokens_per_s\":4") }.joined(separator: "\n") + "\n")
            .write(toFile: faster, atomically: true, encoding: .utf8)
        let compared = try run.runAlone(["plot", metrics, faster, "--label", "slow run", "--label", "fast run",
                                         "--floor", "0.4", "--mark", "1.6", "-o", run.path("compare.svg")])
        XCTAssertEqual(compared.status, 0, compared.output)
        let page = try String(contentsOfFile: run.path("compare.svg"), encoding: .utf8)
        for fragment in ["Training loss against step", "Training loss against time", "train loss / entropy floor",
                         "slow run", "fast run", "entropy floor", "1.6 × floor", "minutes of training"] {
            XCTAssertTrue(page.contains(fragment), "the comparison lacks '\(fragment)'")
        }
        XCTAssertEqual(page.components(separatedBy: "class=\"panel\"").count - 1, 2)
        let mismatched = try run.runAlone(["plot", metrics, faster, "--label", "one"])
        XCTAssertNotEqual(mismatched.status, 0)
        XCTAssertTrue(mismatched.stderr.contains("1 --label for 2 metrics files"), mismatched.stderr)
        XCTAssertNotEqual(try run.runAlone(["plot", metrics, "--floor", "0.4"]).status, 0, "--floor needs several files")

        // --final: one point per file (its last loss ÷ its floor) at its --x, a line per label
        // through the median, a bar over the range; --x must match the files one to one.
        let runs = [("A", 10.0, 0.5), ("A", 10.0, 0.9), ("A", 10.0, 0.6), ("A", 40.0, 2.0), ("B", 10.0, 0.3), ("B", 40.0, 0.4)]
        var finalArguments = ["plot", "--final", "--x-label", "delay (steps)", "--log-x", "--mark", "2", "-o", run.path("final.svg")]
        for (index, (label, x, loss)) in runs.enumerated() {
            let path = run.path("final-\(index).jsonl")
            try "{\"step\":100,\"loss\":9}\n{\"step\":200,\"loss\":\(loss)}\n".write(toFile: path, atomically: true, encoding: .utf8)
            finalArguments += [path, "--label", label, "--x", "\(x)", "--floor", "\(0.1 * (x == 10 ? 1 : 2))"]
        }
        let finals = try run.runAlone(finalArguments)
        XCTAssertEqual(finals.status, 0, finals.output)
        let finalPage = try String(contentsOfFile: run.path("final.svg"), encoding: .utf8)
        for fragment in ["Final loss against delay (steps)", "final train loss / entropy floor", "A (4 runs)", "B (2 runs)",
                         "2.0 × floor", "(log scale)"] {
            XCTAssertTrue(finalPage.contains(fragment), "the final-loss plot lacks '\(fragment)'")
        }
        XCTAssertEqual(finalPage.components(separatedBy: "class=\"panel\"").count - 1, 1)
        let misplaced = try run.runAlone(["plot", "--final", metrics, faster, "--x", "10"])
        XCTAssertNotEqual(misplaced.status, 0)
        XCTAssertTrue(misplaced.stderr.contains("1 --x for 2 metrics files"), misplaced.stderr)
        XCTAssertNotEqual(try run.runAlone(["plot", metrics, faster, "--x", "1", "--x", "2"]).status, 0, "--x needs --final")

        let missing = try run.runAlone(["plot", run.path("nope.jsonl")])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nope.jsonl does not exist"), missing.stderr)
        try "{\"step\":1}\noops\n".write(toFile: run.path("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try run.runAlone(["plot", run.path("bad.jsonl")])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("line 2: not JSON"), bad.stderr)
    }
}
