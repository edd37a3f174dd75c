import Foundation
import TestSupport
import XCTest
@testable import TextData

/// A byte-level BPE on the real binary: `prepare --tokenizer` and `prepare --ids` make the
/// same token file, ranks train on it, `sample` decodes through the tokenizer it carries, and
/// every bad input is one line, exit 1, nothing written.
final class BPERunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    /// The 256 byte symbols and a few merges (" t", "he", " the", "in", "ing"), written by hand.
    private func tokenizer(model: String = "BPE") throws -> String {
        var vocab = (0..<256).map { (String(Unicode.Scalar(BytePairEncoding.byteSymbols[$0])!), $0) }
        let merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"], ["in", "g"]]
        for (index, merge) in merges.enumerated() { vocab.append((merge.joined(), 256 + index)) }
        let root: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": [Any](), "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "post_processor": NSNull(), "decoder": ["type": "ByteLevel"],
            "model": ["type": model, "dropout": NSNull(), "vocab": Dictionary(uniqueKeysWithValues: vocab), "merges": merges] as [String: Any],
        ]
        let path = run.path("tokenizer-\(model).json")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testPrepareTrainSampleWithATokenizer() throws {
        let json = try tokenizer()
        let text = (0..<300).map { "the king is singing in the tower, \($0 % 7) times; naïve café ☕\n" }.joined()
        let textPath = run.path("text.txt")
        try Data(text.utf8).write(to: URL(fileURLWithPath: textPath))
        let tokens = run.path("bpe.tokens")
        let prepared = try run.runAlone(["prepare", textPath, "--tokenizer", json, "--output", tokens])
        XCTAssertEqual(prepared.status, 0, prepared.output)
        XCTAssertTrue(prepared.stdout.contains("261 symbols (bpe), 2 bytes per token"), prepared.stdout)

        // nanoGPT's .bin of the same ids makes the same file, byte for byte.
        let ids = try BytePairEncoding(path: json).encode(text)
        let bin = run.path("train.bin")
        try Data(ids.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }).write(to: URL(fileURLWithPath: bin))
        let imported = run.path("imported.tokens")
        let result = try run.runAlone(["prepare", "--ids", bin, "--dtype", "uint16", "--tokenizer", json, "--output", imported])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: imported)), try Data(contentsOf: URL(fileURLWithPath: tokens)))

        let checkpoints = run.path("checkpoints"), metrics = run.path("metrics.jsonl")
        let trained = try run.run(ranks: 2, ["--hidden", "16", "--seq-len", "12", "--global-batch", "8", "--quiet", "--steps", "4",
                                             "--data", tokens, "--checkpoint-dir", checkpoints, "--metrics", metrics])
        XCTAssertEqual(trained.status, 0, trained.output)
        // Losses per character of the text too: nats/token ÷ (characters ÷ tokens) of the validation split.
        let last = try XCTUnwrap(try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").last)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let valLoss = try XCTUnwrap(record["val_loss"] as? Double), perCharacter = try XCTUnwrap(record["val_nats_per_char"] as? Double)
        let corpus = try DataSource(parsing: tokens).load(tokenizer: .chars, validationFraction: 0.1)
        let charactersPerToken = try XCTUnwrap(corpus.charactersPerToken)
        XCTAssertGreaterThan(charactersPerToken, 1.1, "this BPE's merges join characters into tokens")
        XCTAssertEqual(perCharacter, valLoss / charactersPerToken, accuracy: 1e-9 * valLoss)
        XCTAssertTrue(trained.stdout.contains("nats/char"), trained.stdout)
        let sample = try run.runAlone(["sample", "--checkpoint", checkpoints, "--prime", "the king", "--length", "40"])
        XCTAssertEqual(sample.status, 0, sample.output)
        XCTAssertTrue(sample.stdout.hasPrefix("the king"), sample.stdout)
        XCTAssertGreaterThan(sample.stdout.unicodeScalars.count, "the king".count + 20, "40 subwords of text")
    }

    func testBadTokenizerInputsGiveOneLineAndWriteNothing() throws {
        let json = try tokenizer()
        let wordPiece = try tokenizer(model: "WordPiece")
        let textPath = run.path("text.txt")
        try Data("the thing\n".utf8).write(to: URL(fileURLWithPath: textPath))
        let odd = run.path("odd.bin")
        try Data([1, 0, 2]).write(to: URL(fileURLWithPath: odd))
        let outside = run.path("outside.bin")
        try Data([1, 0, 5, 1]).write(to: URL(fileURLWithPath: outside))   // id 261: the vocabulary ends at 260
        let output = run.path("out.tokens")
        let table: [([String], String)] = [
            (["prepare", textPath, "--tokenizer", wordPiece], "model type WordPiece is not supported"),
            (["prepare", textPath, "--tokenizer", run.path("absent.json")], "cannot read tokenizer \(run.path("absent.json"))"),
            (["prepare", textPath, "--tokenizer", "bpe"], "--tokenizer bpe: give the tokenizer.json file itself"),
            (["prepare", "--ids", odd, "--dtype", "uint16", "--tokenizer", json], "\(odd) has 3 bytes, not a whole number of 2-byte ids"),
            (["prepare", "--ids", outside, "--dtype", "uint16", "--tokenizer", json], "id 261 at token 1 is not in the tokenizer's vocabulary of 261"),
            (["prepare", "--ids", outside, "--tokenizer", json], "prepare --ids needs --dtype uint16 or uint32"),
            (["prepare", "--ids", outside, "--dtype", "uint16", "--tokenizer", "chars"], "prepare --ids needs --tokenizer FILE.json"),
            (["prepare", textPath, "--dtype", "uint16"], "--dtype describes --ids FILE"),
        ]
        for (arguments, expected) in table {
            let result = try run.runAlone(arguments + ["--output", output])
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            let lines = result.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): one line expected:\n\(result.stderr)")
            XCTAssertTrue(lines.first?.contains(expected) ?? false, "\(arguments): expected '\(expected)' in:\n\(result.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.directory).filter { $0.contains(".tmp-") }, [])
    }
}
