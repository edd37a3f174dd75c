import Foundation
import TestSupport
import XCTest
import TextData

final class CorpusTests: XCTestCase {
    func testCharsCorpusSplitsTailAndKeepsValidationSymbolsInVocabulary() throws {
        let directory = try TemporaryDirectory()
        // "z" and "é" occur only in the validation tail: the vocabulary is built from the
        // whole file so they are still known.
        let text = String(repeating: "abcab\n", count: 15) + "zzzzé\n"  // 96 scalars
        let path = try directory.file("tiny.txt", text: text)
        let corpus = try Corpus.load(path: path, tokenizer: .chars, validationFraction: 0.1)

        XCTAssertEqual(corpus.vocabulary.symbols, [0x0A, 0x61, 0x62, 0x63, 0x7A, 0xE9])
        XCTAssertEqual(corpus.vocabulary.count, 6)
        XCTAssertEqual(corpus.validationTokens.count, 9)   // floor(96 · 0.1)
        XCTAssertEqual(corpus.trainTokens.count, 87)
        XCTAssertEqual(corpus.vocabulary.decode(corpus.trainTokens + corpus.validationTokens), text)
        XCTAssertEqual(corpus.vocabulary.decode(Array(corpus.validationTokens.suffix(6))), "zzzzé\n")
        XCTAssertNil(corpus.entropyFloor)
        XCTAssertTrue(corpus.summary.contains("6 symbols"), corpus.summary)

        let whole = try Corpus.load(path: path, tokenizer: .chars, validationFraction: 0)
        XCTAssertTrue(whole.validationTokens.isEmpty)
        XCTAssertEqual(whole.trainTokens.count, 96)
    }

    func testBytesTokenizerAcceptsAnyBytes() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.file("binary.bin", bytes: [0xFF, 0x00, 0x41, 0xC3, 0xA9, 0xFF])
        let corpus = try Corpus.load(path: path, tokenizer: .bytes, validationFraction: 0)
        XCTAssertEqual(corpus.vocabulary.symbols, [0x00, 0x41, 0xA9, 0xC3, 0xFF])
        XCTAssertEqual(corpus.trainTokens, [4, 0, 1, 3, 2, 4])
        // Lossy UTF-8 decoding: the stray 0xFF bytes become U+FFFD, "é" survives.
        XCTAssertEqual(corpus.vocabulary.decode(Array(corpus.trainTokens[2...4])), "Aé")
    }

    func testInvalidUTF8NamesFileAndOffset() throws {
        let directory = try TemporaryDirectory()
        let cases: [([UInt8], Int)] = [
            ([0x61, 0x62, 0xFF, 0x63], 2),             // invalid lead byte
            ([0x61, 0xC0, 0x80], 1),                   // overlong NUL
            ([0x61, 0x62, 0x63, 0xE2, 0x82], 3),       // truncated at end of file
            ([0xED, 0xA0, 0x80], 0),                   // UTF-16 surrogate
            ([0x61, 0xC3, 0x41], 1),                   // missing continuation byte
        ]
        for (index, (bytes, offset)) in cases.enumerated() {
            let path = try directory.file("bad\(index).txt", bytes: bytes)
            assertThrows(try Corpus.load(path: path, tokenizer: .chars, validationFraction: 0),
                         containing: [path, "not valid UTF-8", "byte offset \(offset)"])
        }
    }

    func testFileErrors() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.path + "/nope.txt"
        assertThrows(try Corpus.load(path: missing, validationFraction: 0), containing: ["corpus file not found: \(missing)"])
        let empty = try directory.file("empty.txt", bytes: [])
        assertThrows(try Corpus.load(path: empty, validationFraction: 0), containing: ["corpus \(empty) is empty"])
        assertThrows(try Corpus.load(path: directory.path, validationFraction: 0),
                     containing: ["cannot read corpus file \(directory.path)", "directory"])
        let fine = try directory.file("fine.txt", text: "hello")
        assertThrows(try Corpus.load(path: fine, validationFraction: 0.6), containing: ["validation fraction", "0.6"])
        assertThrows(try Corpus.load(path: fine, validationFraction: -0.1), containing: ["validation fraction"])
    }

    func testTooShortForOneSequence() throws {
        let directory = try TemporaryDirectory()
        let corpus = try Corpus.load(path: try directory.file("short.txt", text: "abcdefghij"), validationFraction: 0)
        XCTAssertNoThrow(try corpus.validate(sequenceLength: 9))   // 10 tokens = exactly T + 1
        assertThrows(try corpus.validate(sequenceLength: 10), containing: ["10 tokens", "sequence length 10", "at least 11"])
    }

    func testLoadWithGivenVocabulary() throws {
        let directory = try TemporaryDirectory()
        let vocabulary = Vocabulary(tokenizer: .chars, symbols: "abc\n".unicodeScalars.map(\.value))
        let good = try directory.file("good.txt", text: "cab\n")
        let corpus = try Corpus.load(path: good, validationFraction: 0, vocabulary: vocabulary)
        XCTAssertEqual(corpus.trainTokens, [3, 1, 2, 0])
        let bad = try directory.file("bad.txt", text: "cabd")
        assertThrows(try Corpus.load(path: bad, validationFraction: 0, vocabulary: vocabulary),
                     containing: [bad, "'d' (U+0064)", "token 3", "vocabulary"])
    }

    func testVocabularyEncodeDecodeAndSerialization() throws {
        let text = "héllo → 世界\n"
        let vocabulary = Vocabulary(tokenizer: .chars, symbols: text.unicodeScalars.map(\.value))
        XCTAssertEqual(vocabulary.symbols, vocabulary.symbols.sorted())
        XCTAssertEqual(Set(vocabulary.symbols).count, vocabulary.count)
        let ids = try vocabulary.encode(text)
        XCTAssertEqual(vocabulary.decode(ids), text)
        XCTAssertEqual(vocabulary.id(of: 0x0A), 0)
        XCTAssertNil(vocabulary.id(of: 0x41))
        assertThrows(try vocabulary.encode("héllo!"), containing: ["'!' (U+0021)", "position 5"])

        let restored = try Vocabulary(serialized: vocabulary.serialized)
        XCTAssertEqual(restored, vocabulary)
        XCTAssertTrue(vocabulary.serialized.hasPrefix("{\"symbols\":[10,32,"), vocabulary.serialized)
        assertThrows(try Vocabulary(serialized: "{\"symbols\":[3,2],\"tokenizer\":\"chars\"}"),
                     containing: ["invalid stored vocabulary", "strictly increasing"])
        assertThrows(try Vocabulary(serialized: "{\"symbols\":[300],\"tokenizer\":\"bytes\"}"),
                     containing: ["out of range"])

        let bytes = Vocabulary(tokenizer: .bytes, symbols: Array("hé".utf8).map(UInt32.init))
        // Symbols 0x68 "h", 0xA9, 0xC3 (the UTF-8 bytes of "é" are C3 A9).
        XCTAssertEqual(try bytes.encode("éh"), [2, 1, 0])
        XCTAssertEqual(bytes.decode([2, 1, 0]), "éh")
    }

    /// The real corpus, where the checkout has ../shared beside it (CI); skipped elsewhere.
    func testTinyShakespeareIfPresent() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = repository.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        let corpus = try Corpus.load(path: path, tokenizer: .chars, validationFraction: 0.1)
        XCTAssertEqual(corpus.vocabulary.count, 65)
        XCTAssertGreaterThan(corpus.trainTokens.count, 1_000_000)
        try corpus.validate(sequenceLength: 256)
    }
}
