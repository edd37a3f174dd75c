import Foundation
import TestSupport
import XCTest
import Distributed
import Reporting
import RunErrors

final class TensorBoardLoggerTests: XCTestCase {
    func testTags() {
        let expected = [
            "loss": "train/loss", "grad_norm": "train/grad_norm", "clipped": "train/clip_rate", "lr": "train/lr",
            "tokens_per_s": "perf/tokens_per_s", "allreduce_s": "perf/allreduce_s", "compute_s": "perf/compute_s",
            "slowest_rank": "perf/slowest_rank", "imbalance": "perf/imbalance", "val_loss": "val/loss",
            "diag_survival/layer1_c/k20": "diag/survival/layer1_c/k20",
            "spectral_radius_w_hh": "diag/spectral_radius_w_hh", "rank_12_compute_s": "perf/rank_12/compute_s",
            "rank_0_allreduce_s": "perf/rank_0/allreduce_s", "rank_x_y": "other/rank_x_y", "mystery": "other/mystery",
        ]
        for (key, tag) in expected { XCTAssertEqual(TensorBoardLogger.tag(for: key), tag, key) }
    }

    func testScalarsAddBitsPerTokenAndLeaveOutStep() {
        let scalars = TensorBoardLogger.scalars(for: ["step": 100, "loss": 2 * log(2.0), "val_loss": log(2.0), "lr": 0.003])
        XCTAssertEqual(scalars.map(\.tag), ["train/bits_per_token", "train/loss", "train/lr", "val/bits_per_token", "val/loss"])
        XCTAssertEqual(scalars[0].value, 2, accuracy: 1e-12)
        XCTAssertEqual(scalars[3].value, 1, accuracy: 1e-12)
    }

    func testWritesAnEventFileAndReportsABadDirectory() throws {
        let directory = try TemporaryDirectory()
        let logger = try TensorBoardLogger(directory: directory.path + "/tb")
        try logger.log(["loss": 1.5, "grad_norm": 0.25], step: 10)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: logger.path)[.size] as? Int)
        // file_version record (12 + 24 + 4) and the scalars record, flushed.
        XCTAssertGreaterThan(size, 60)
        try logger.close()
        XCTAssertTrue(URL(fileURLWithPath: logger.path).lastPathComponent.hasPrefix("events.out.tfevents."))

        let file = try directory.file("occupied", text: "")
        assertThrows(try TensorBoardLogger(directory: file), containing: ["cannot create TensorBoard log directory", "occupied"])
        do {
            _ = try TensorBoardLogger(directory: file)
        } catch let error as RunError {
            XCTAssertEqual(error.kind, .badInput)
        }
    }

    /// TensorBoard's own reader sees the logger's tags (installing the tensorboard package
    /// with pip when it is missing; skipped, saying why, only when pip cannot).
    func testTensorBoardReadsTheLoggerTags() throws {
        let python: String
        do { python = try Python.importing(["tensorboard"], installing: ["tensorboard"]) } catch { throw XCTSkip("\(error)") }
        let directory = try TemporaryDirectory()
        let logger = try TensorBoardLogger(directory: directory.path)
        let timing = RankTiming.summarize(computeSeconds: [1, 2], allreduceSeconds: [0.5, 0.1])
        var record: [String: Double] = ["loss": 1.25, "grad_norm": 0.5, "clipped": 0.1, "lr": 0.003,
                                        "tokens_per_s": 123456, "allreduce_s": 0.3, "compute_s": 1.5,
                                        "val_loss": 1.3, "diag_survival/layer0_h/k3": 0.01]
        record.merge(timing.tensorBoardMetrics) { a, _ in a }
        try logger.log(record, step: 50)
        try logger.close()
        let script = """
        import sys
        from tensorboard.backend.event_processing import event_accumulator as ea
        acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0}); acc.Reload()
        for tag in sorted(acc.Tags()["scalars"]):
            for e in acc.Scalars(tag): print(tag, e.step, repr(e.value))
        """
        let result = try ProcessRunner.run(python, ["-c", script, directory.path], environment: ["TF_CPP_MIN_LOG_LEVEL": "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let expected = TensorBoardLogger.scalars(for: record)
        XCTAssertEqual(lines.count, expected.count, result.stdout)
        for (line, (tag, value)) in zip(lines, expected) {
            let parts = line.split(separator: " ")
            XCTAssertEqual(String(parts[0]), tag)
            XCTAssertEqual(parts[1], "50")
            XCTAssertEqual(Float(Double(parts[2])!), Float(value), tag)
        }
        for tag in ["train/loss", "train/bits_per_token", "train/grad_norm", "train/clip_rate", "train/lr", "val/loss",
                    "perf/tokens_per_s", "perf/allreduce_s", "perf/slowest_rank", "perf/imbalance",
                    "perf/rank_1/compute_s", "diag/survival/layer0_h/k3"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix(tag + " ") }, "TensorBoard did not read \(tag)")
        }
    }
}

final class LiveStatusLineTests: XCTestCase {
    func testRenderShortLine() {
        XCTAssertEqual(LiveStatusLine.render("step 10/300  loss 1.2", width: 80), "\rstep 10/300  loss 1.2\u{1B}[K")
    }

    func testRenderTruncatesToWidthMinusOneWithEllipsis() {
        let text = String(repeating: "x", count: 30)
        let rendered = LiveStatusLine.render(text, width: 20)
        XCTAssertEqual(rendered, "\r" + String(repeating: "x", count: 18) + "…\u{1B}[K")
        // Exactly width − 1 characters fit untouched.
        XCTAssertEqual(LiveStatusLine.render(String(repeating: "y", count: 19), width: 20),
                       "\r" + String(repeating: "y", count: 19) + "\u{1B}[K")
        // Characters, not bytes: the multi-byte |g| symbols and "…" count as one column each.
        XCTAssertEqual(LiveStatusLine.render("‖g‖ 0.15 and more", width: 9), "\r‖g‖ 0.1…\u{1B}[K")
    }

    func testRenderFlattensNewlinesAndSurvivesTinyWidths() {
        XCTAssertEqual(LiveStatusLine.render("a\nb\tc", width: 80), "\ra b c\u{1B}[K")
        XCTAssertEqual(LiveStatusLine.render("abc", width: 1), "\r…\u{1B}[K")
        XCTAssertEqual(LiveStatusLine.render("", width: 10), "\r\u{1B}[K")
    }

    func testUpdatePrintAboveAndFinishComposeTheTerminalText() throws {
        var line = LiveStatusLine(width: 12)
        var written = line.update("step 1")
        written += line.update("step 2 of a long run")
        written += line.printAbove("checkpoint saved")
        written += line.finish()
        written += line.finish()
        XCTAssertEqual(written, "\rstep 1\u{1B}[K" + "\rstep 2 of …\u{1B}[K" + "\r\u{1B}[K" + "checkpoint saved\n"
            + "\rstep 2 of …\u{1B}[K" + "\n")
    }

    func testTerminalWidthFallsBackWhenNotATerminal() throws {
        let directory = try TemporaryDirectory()
        let stream = try XCTUnwrap(fopen(directory.path + "/f", "w"))
        defer { fclose(stream) }
        XCTAssertEqual(LiveStatusLine.terminalWidth(descriptor: fileno(stream), fallback: 97), 97)
    }
}
