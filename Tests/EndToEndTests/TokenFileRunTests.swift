import Foundation
import TestSupport
import XCTest
import Safetensors

/// `rnn-dist prepare` and token files on real ranks: the same run as from the text, every
/// bad input one line and exit 1, an interrupted prepare leaves nothing, checkpoints refuse
/// another corpus and old checkpoints still load.
final class TokenFileRunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private let small = ["--hidden", "16", "--seq-len", "12", "--global-batch", "8", "--quiet"]

    /// A text (same vocabulary, different data from `shifted`), prepared.
    private func corpus(_ name: String, shifted: Bool = false) throws -> (text: String, tokens: String) {
        let lines = (0..<400).map { "line \($0 * 7 % 101) of the corpus, \(shifted ? "again" : "gain")\n" }
        let text = run.path("\(name).txt")
        try Data(lines.joined().utf8).write(to: URL(fileURLWithPath: text))
        let tokens = run.path("\(name).tokens")
        let prepared = try run.runAlone(["prepare", text, "--output", tokens])
        XCTAssertEqual(prepared.status, 0, prepared.output)
        XCTAssertTrue(prepared.stdout.hasPrefix("prepared \(tokens) from 1 file"), prepared.stdout)
        XCTAssertEqual(prepared.stderr, "", "no progress line when stderr is not a terminal")
        return (text, tokens)
    }

    private func finalLines(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("validation loss") || $0.hasPrefix("parameters identical") }
    }

    /// Training from the token file is the training from the text: same ids, same split, so
    /// the same final validation loss and parameter checksum; `prepare --verify` accepts it.
    func testTokenFileTrainsExactlyLikeItsText() throws {
        let (text, tokens) = try corpus("a")
        var finals: [[String]] = []
        for data in [text, tokens] {
            let result = try run.run(ranks: 2, small + ["--data", data, "--steps", "6"])
            XCTAssertEqual(result.status, 0, result.output)
            finals.append(finalLines(result.stdout))
        }
        XCTAssertEqual(finals[0].count, 2, finals[0].joined(separator: "\n"))
        XCTAssertEqual(finals[0], finals[1])
        let verified = try run.runAlone(["prepare", "--verify", tokens])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertTrue(verified.stdout.contains("valid"), verified.stdout)
    }

    /// Checkpoints name their corpus: resuming or initializing on another one (same
    /// vocabulary) or another vocabulary is refused with one line naming both; the text and
    /// its token file are the same corpus; a checkpoint without the record still resumes.
    func testCheckpointsRefuseAnotherCorpus() throws {
        let (text, tokens) = try corpus("a")
        let (_, otherTokens) = try corpus("b", shifted: true)
        try Data("xyz xyz xyz xyz\n".utf8).write(to: URL(fileURLWithPath: run.path("tiny.txt")))
        XCTAssertEqual(try run.runAlone(["prepare", run.path("tiny.txt"), "--output", run.path("tiny.tokens")]).status, 0)
        let checkpoints = run.path("checkpoints")
        let first = try run.run(ranks: 2, small + ["--data", text, "--steps", "3", "--checkpoint-dir", checkpoints,
                                                   "--save", run.path("p.safetensors")])
        XCTAssertEqual(first.status, 0, first.output)

        let resumed = try run.run(ranks: 2, small + ["--data", tokens, "--steps", "5", "--resume", checkpoints])
        XCTAssertEqual(resumed.status, 0, "the token file of the same text is the same corpus: \(resumed.output)")
        let refusals: [([String], [String])] = [
            (["--data", otherTokens, "--resume", checkpoints], ["was trained on \(text)", "not on \(otherTokens)", "another corpus"]),
            (["--data", otherTokens, "--init", run.path("p.safetensors")], ["p.safetensors was trained on \(text)", "not on \(otherTokens)"]),
            (["--data", run.path("tiny.tokens"), "--resume", checkpoints], ["the vocabulary is 28 symbols (chars) in the checkpoint but 5 symbols (chars)"]),
            (["--data", run.path("tiny.tokens"), "--init", run.path("p.safetensors")], ["trained with a vocabulary of 28 symbols (chars)", "tiny.tokens has 5 symbols (chars)"]),
        ]
        for (arguments, fragments) in refusals {
            let result = try run.run(ranks: 2, small + ["--steps", "8"] + arguments, timeout: 60)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") }
            XCTAssertEqual(lines.count, 1, result.stderr)
            for fragment in fragments { XCTAssertTrue(lines.first?.contains(fragment) ?? false, "'\(fragment)' not in \(result.stderr)") }
        }
        let evaluated = try run.run(ranks: 1, ["eval", "--checkpoint", checkpoints, "--data", run.path("tiny.tokens")], timeout: 60)
        XCTAssertEqual(evaluated.status, 1, evaluated.output)
        XCTAssertTrue(evaluated.stderr.contains("not the same vocabulary"), evaluated.stderr)

        // A checkpoint from before the corpus record: the same file without its two keys.
        let newest = try FileManager.default.contentsOfDirectory(atPath: checkpoints).filter { $0.hasPrefix("checkpoint-") }.sorted().last!
        var file = try SafetensorsFile.read(path: "\(checkpoints)/\(newest)")
        XCTAssertNotNil(file.metadata.removeValue(forKey: "corpus"))
        XCTAssertNotNil(file.metadata.removeValue(forKey: "corpus_checksum"))
        try file.write(to: "\(checkpoints)/\(newest)")
        let old = try run.run(ranks: 2, small + ["--data", otherTokens, "--steps", "8", "--resume", checkpoints])
        XCTAssertEqual(old.status, 0, "an old checkpoint without the record loads: \(old.output)")
    }

    /// Damaged token files and bad prepare inputs on the real binary: one line, exit 1,
    /// no crash trace, nothing written.
    func testBadTokenFilesAndInputsGiveOneClearLine() throws {
        let (_, tokens) = try corpus("a")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tokens))
        func damaged(_ name: String, _ change: (inout Data) -> Void) throws -> String {
            var copy = bytes
            change(&copy)
            try copy.write(to: URL(fileURLWithPath: run.path(name)))
            return run.path(name)
        }
        try FileManager.default.createDirectory(atPath: run.path("empty"), withIntermediateDirectories: true)
        let truncated = try damaged("truncated.tokens") { $0.removeLast(10) }
        let version = try damaged("version.tokens") { $0[8] = 9 }
        let header = try damaged("header.tokens") { $0[64] ^= 0x01 }
        let data = try damaged("data.tokens") { $0[$0.count - 5] ^= 0x01 }
        let magic = try damaged("magic.tokens") { $0[0] = 0x41 }
        let train = small + ["--steps", "2", "--data"]
        let table: [([String], String)] = [
            (train + [truncated], "token file \(truncated): \(bytes.count - 10) bytes where its header promises \(bytes.count)"),
            (train + [version], "token file \(version): token file format version 9"),
            (train + [header], "token file \(header): corrupted header (checksum mismatch)"),
            (train + [data], "token file \(data): corrupted token data"),
            (["prepare", "--verify", magic], "token file \(magic): not a token file (wrong magic bytes)"),
            (["prepare", run.path("empty"), "--output", run.path("out.tokens")], "folder \(run.path("empty")) holds no files"),
            (["prepare", run.path("absent"), "--output", run.path("out.tokens")], "corpus file not found: \(run.path("absent"))"),
            (["prepare", run.path("a.txt")], "prepare needs --output FILE"),
        ]
        for (arguments, expected) in table {
            let result = try run.run(ranks: arguments.first == "prepare" ? 1 : 2, arguments, timeout: 60)
            XCTAssertFalse(result.timedOut, "\(arguments) hung")
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") }
            XCTAssertEqual(lines.count, 1, "\(arguments): one message expected:\n\(result.stderr)")
            XCTAssertTrue(lines.first?.contains(expected) ?? false, "\(arguments): expected '\(expected)' in:\n\(result.stderr)")
            for trace in ["Fatal error", "Stack dump", "Current stack trace", "Segmentation"] {
                XCTAssertFalse(result.output.contains(trace), "\(arguments): crash trace\n\(result.output)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path("out.tokens")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.directory).filter { $0.contains(".tmp-") }, [])
    }

    /// A token file above 16 MiB has its data checked at open only by size and header (a full
    /// scan on every rank at every start would cost seconds per GB): damage beyond that shows
    /// when a batch reads it — one line naming the file and `prepare --verify`, exit 1, on
    /// the rank that read it, and no rank left waiting in the allreduce.
    func testTokenFileDamagedBeyondTheOpenCheckStopsCleanly() throws {
        let pattern = "to be, or not to be: that is the question.\n"
        let text = run.path("large.txt"), tokens = run.path("large.tokens")
        try Data(String(repeating: pattern, count: 17 * 1_048_576 / pattern.utf8.count + 1).utf8)
            .write(to: URL(fileURLWithPath: text))
        let prepared = try run.runAlone(["prepare", text, "--output", tokens], timeout: 120)
        XCTAssertEqual(prepared.status, 0, prepared.output)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tokens))
        XCTAssertGreaterThan(bytes.count, 17 * 1_048_576)
        // A megabyte of ids 255 in the training part (one byte per token: 16 symbols).
        for offset in 4 * 1_048_576 ..< 5 * 1_048_576 { bytes[offset] = 255 }
        try bytes.write(to: URL(fileURLWithPath: tokens))

        let result = try run.run(ranks: 2, small + ["--steps", "40", "--data", tokens], timeout: 120)
        XCTAssertFalse(result.timedOut, "hung:\n\(result.output)")
        XCTAssertEqual(result.status, 1, result.output)
        // The rank that read it says so; the other one, killed by mpirun mid-allreduce, may add
        // that the job is being ended.
        let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("rnn-dist:") && !$0.contains("the job is being ended") }
        XCTAssertEqual(lines.count, 1, "one message expected:\n\(result.stderr)")
        let expected = "token file \(tokens): corrupted: id 255 near token"
        XCTAssertTrue(lines.first?.contains(expected) ?? false, "expected '\(expected)' in:\n\(result.stderr)")
        XCTAssertTrue(lines.first?.contains("rnn-dist prepare --verify \(tokens)") ?? false, result.stderr)
        for trace in ["Fatal error", "Stack dump", "Current stack trace", "Segmentation"] {
            XCTAssertFalse(result.output.contains(trace), "crash trace\n\(result.output)")
        }
    }

    /// SIGTERM or SIGINT during prepare (here blocked reading a FIFO that no one writes)
    /// removes the temporary file: nothing is left at the output or beside it.
    func testInterruptedPrepareLeavesNothing() throws {
        for signalNumber in [SIGTERM, SIGINT] {
            let fifo = run.path("fifo-\(signalNumber)")
            XCTAssertEqual(mkfifo(fifo, 0o600), 0)
            let output = run.path("out-\(signalNumber).tokens")
            let started = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                _ = try? self.run.runAlone(["prepare", fifo, "--output", output], timeout: 60)
                started.signal()
            }
            // Wait for the temporary file, then signal the prepare process that made it.
            let deadline = Date().addingTimeInterval(30)
            var temporary: String?
            while temporary == nil && Date() < deadline {
                temporary = try FileManager.default.contentsOfDirectory(atPath: run.directory)
                    .first { $0.hasPrefix(".out-\(signalNumber).tokens.tmp-") }
                usleep(20_000)
            }
            let name = try XCTUnwrap(temporary, "prepare never created its temporary file")
            let pid = try XCTUnwrap(Int32(name.split(separator: "-")[2]))   // .NAME.tmp-PID-RANDOM
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            XCTAssertEqual(kill(pid, signalNumber), 0)
            XCTAssertEqual(started.wait(timeout: .now() + 30), .success, "prepare did not end: \(status)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.directory)
                .filter { $0.contains("out-\(signalNumber)") }, [], "nothing left behind")
        }
    }
}
