import Foundation
import TestSupport
import XCTest
import Checkpoints
import TextData

/// `rnn-dist sample` on models trained by the real binary.
final class SampleCommandTests: XCTestCase {
    private static var trained: RNNDistRun?

    /// One tiny model for all tests: `model.safetensors` (--save) and `checkpoints/` (--checkpoint-dir).
    private var run: RNNDistRun {
        get throws {
            if let run = Self.trained { return run }
            let run = try RNNDistRun()
            let result = try run.runAlone(["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12",
                                           "--global-batch", "8", "--steps", "30", "--log-every", "10",
                                           "--save", run.path("model.safetensors"),
                                           "--checkpoint-dir", run.path("checkpoints")])
            XCTAssertEqual(result.status, 0, result.output)
            Self.trained = run
            return run
        }
    }

    override class func tearDown() {
        trained?.remove()
        trained = nil
    }

    private func sample(_ arguments: [String]) throws -> ProcessResult {
        try run.runAlone(["sample"] + arguments)
    }

    func testSameSeedSameTextOtherSeedOtherText() throws {
        let model = try run.path("model.safetensors")
        let first = try sample(["--checkpoint", model, "--length", "200", "--seed", "7"])
        let second = try sample(["--checkpoint", model, "--length", "200", "--seed", "7"])
        let other = try sample(["--checkpoint", model, "--length", "200", "--seed", "8"])
        for result in [first, second, other] { XCTAssertEqual(result.status, 0, result.output) }
        XCTAssertEqual(first.stdout, second.stdout)
        XCTAssertNotEqual(first.stdout, other.stdout)
        XCTAssertEqual(first.stderr, "")
        // The Markov vocabulary has no newline: the default prime is its first symbol, printed
        // first, then exactly `length` sampled characters and a final newline.
        XCTAssertEqual(first.stdout.unicodeScalars.count, 202, first.stdout)
        XCTAssertTrue(first.stdout.hasSuffix("\n"))
        XCTAssertTrue(first.stdout.hasPrefix("a"), first.stdout)
    }

    func testPrimeIsPrintedAndShapesTheText() throws {
        let model = try run.path("model.safetensors")
        let a = try sample(["--checkpoint", model, "--prime", "abcab", "--length", "50"])
        let b = try sample(["--checkpoint", model, "--prime", "lkj", "--length", "50"])
        XCTAssertEqual(a.status, 0, a.output)
        XCTAssertTrue(a.stdout.hasPrefix("abcab"), a.stdout)
        XCTAssertEqual(a.stdout.unicodeScalars.count, 56)
        XCTAssertTrue(b.stdout.hasPrefix("lkj"), b.stdout)
        let zero = try sample(["--checkpoint", model, "--prime", "abc", "--length", "0"])
        XCTAssertEqual(zero.status, 0, zero.output)
        XCTAssertEqual(zero.stdout, "abc\n")
    }

    func testTopOneIsDeterministicAndUsesOnlyVocabularySymbols() throws {
        let model = try run.path("model.safetensors")
        let vocabulary = try XCTUnwrap(ModelFile.load(path: model).vocabulary)
        let symbols = Set(vocabulary.symbols)
        let one = try sample(["--checkpoint", model, "--top-k", "1", "--length", "100", "--seed", "1"])
        let two = try sample(["--checkpoint", model, "--top-k", "1", "--length", "100", "--seed", "99"])
        XCTAssertEqual(one.status, 0, one.output)
        XCTAssertEqual(one.stdout, two.stdout, "top-k 1 is greedy: the seed does not matter")
        XCTAssertTrue(one.stdout.dropLast().unicodeScalars.allSatisfy { symbols.contains($0.value) }, one.stdout)
        let wide = try sample(["--checkpoint", model, "--top-k", "1000", "--length", "20", "--temperature", "0.5"])
        XCTAssertEqual(wide.status, 0, wide.output)
    }

    func testSamplingFromCheckpointFileAndFolder() throws {
        let folder = try run.path("checkpoints")
        let file = folder + "/" + CheckpointStore.fileName(step: 30)
        let fromFile = try sample(["--checkpoint", file, "--length", "80", "--seed", "3"])
        let fromFolder = try sample(["--checkpoint", folder, "--length", "80", "--seed", "3"])
        let fromSave = try sample(["--checkpoint", try run.path("model.safetensors"), "--length", "80", "--seed", "3"])
        XCTAssertEqual(fromFile.status, 0, fromFile.output)
        XCTAssertEqual(fromFile.stdout.unicodeScalars.count, 82)
        XCTAssertEqual(fromFile.stdout, fromFolder.stdout)
        XCTAssertEqual(fromFile.stdout, fromSave.stdout, "the checkpoint and --save hold the same final parameters")
    }

    /// Under mpirun only rank 0 samples; the text is printed once and equals the one-process text.
    func testUnderMpirunRankZeroAloneSamples() throws {
        let model = try run.path("model.safetensors")
        let alone = try sample(["--checkpoint", model, "--length", "60", "--seed", "5"])
        let job = try run.run(ranks: 2, ["sample", "--checkpoint", model, "--length", "60", "--seed", "5"])
        XCTAssertEqual(job.status, 0, job.output)
        XCTAssertEqual(job.stdout, alone.stdout)
    }

    func testBadInputExitsOneWithOneLine() throws {
        let model = try run.path("model.safetensors")
        let cases: [([String], String)] = [
            (["--checkpoint", model, "--prime", "abz"], "'z' (U+007A) at position 2 is not in the model's vocabulary"),
            (["--checkpoint", model, "--temperature", "0"], "--temperature"),
            (["--checkpoint", model, "--temperature", "-1"], "--temperature"),
            (["--checkpoint", model, "--top-k", "0"], "--top-k"),
            (["--checkpoint", model, "--length", "-3"], "--length"),
            (["--checkpoint", try run.path("missing.safetensors")], "not found: \(try run.path("missing.safetensors"))"),
            (["--length", "5"], "--checkpoint"),
        ]
        for (arguments, fragment) in cases {
            let result = try sample(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            let lines = result.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("rnn-dist: "), result.stderr)
            XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): '\(result.stderr)' lacks '\(fragment)'")
        }
    }

    /// The streamed text of `bytes` tokens equals the whole-sequence decoding, invalid UTF-8 included.
    func testTokenTextStreamMatchesWholeDecoding() {
        let bytes = Vocabulary(tokenizer: .bytes, symbols: (0...255).map(UInt32.init))
        var generator = DataRandom(seed: 11)
        let interesting: [UInt8] = [0x41, 0x0A, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80,
                                    0x80, 0xBF, 0xC0, 0xE0, 0xED, 0xA0, 0xF4, 0x90, 0xFF, 0xF5]
        for length in [0, 1, 2, 3, 5, 8, 20, 60] {
            for _ in 0..<200 {
                let ids = (0..<length).map { _ in Int32(interesting[generator.nextInt(below: interesting.count)]) }
                var stream = TokenTextStream(vocabulary: bytes)
                let streamed = ids.map { stream.append($0) }.joined() + stream.flush()
                XCTAssertEqual(streamed, bytes.decode(ids), "\(ids.map { String($0, radix: 16) })")
            }
        }
        let chars = Vocabulary(tokenizer: .chars, symbols: "hé€😀\n".unicodeScalars.map(\.value))
        let ids = try! chars.encode("😀hé\n€")
        var stream = TokenTextStream(vocabulary: chars)
        XCTAssertEqual(ids.map { stream.append($0) }.joined() + stream.flush(), "😀hé\n€")
    }
}
