import Foundation
import TestSupport
import XCTest
@testable import TextData

/// Token files of a byte-level BPE: `prepare --tokenizer` writes `tokenizers`' ids of the
/// whole text however the reads cut it, `prepare --ids` imports the same ids, the file keeps
/// what decoding needs and the characters per split, and files of format 1 still open.
final class BPETokenFileTests: XCTestCase {
    /// Several files read 37 bytes at a time (cuts inside characters, pre-tokens and added
    /// tokens): the ids are `tokenizers`' of the concatenated text, encoded in one call.
    func testPreparedIDsEqualTheTokenizersPackage() throws {
        let fixtures = try BPEFixtures.shared()
        let directory = try TemporaryDirectory()
        let names = ["emoji", "jumble", "prose", "scripts", "spacing", "special"]
        try FileManager.default.createDirectory(atPath: directory.path("in"), withIntermediateDirectories: true)
        for (index, name) in names.enumerated() { _ = try directory.file("in/\(index)-\(name).txt", text: fixtures.texts[name]!) }
        let whole = names.map { fixtures.texts[$0]! }.joined()
        for variant in BPEFixtures.variants {
            let encoding = try fixtures.encoding(variant)
            let expected = try encoding.encode(whole)
            for chunk in [37, 1 << 20] {
                let output = directory.path("\(variant.name)-\(chunk).tok")
                let writer = try TokenFileWriter(inputs: [directory.path("in")], output: output, source: .bpe(encoding), validationFraction: 0.1)
                writer.chunkBytes = chunk
                let header = try writer.write()
                let corpus = try Corpus.load(tokenFile: output)
                XCTAssertEqual(corpus.tokens.array, expected, "\(variant.name), reads of \(chunk) bytes")
                XCTAssertEqual(corpus.vocabulary, Vocabulary(bytePairEncoding: encoding))
                XCTAssertEqual(corpus.vocabulary.count, variant.vocabularySize, "V is the tokenizer's vocabulary size")
                XCTAssertEqual(header.width, .two)
                let decoded = encoding.decode(expected)
                XCTAssertEqual(corpus.characters.map { $0.train + $0.validation }, decoded.unicodeScalars.count)
                // The split may fall inside a character: its lead byte counts where it is.
                XCTAssertEqual(corpus.characters?.validation,
                               corpus.validationTokens.flatMap { encoding.bytes(of: $0)! }.filter { $0 & 0xC0 != 0x80 }.count)
                if !variant.addPrefixSpace { XCTAssertEqual(decoded, whole) }
                try TokenFile(path: output).verify()
            }
        }
        // tinyshakespeare, against the package's ids of the whole text.
        for variant in BPEFixtures.variants.prefix(1) where fixtures.hasReference(variant, "shakespeare") {
            let output = directory.path("shakespeare-\(variant.name).tok")
            let encoding = try fixtures.encoding(variant)
            let writer = try TokenFileWriter(inputs: [BPEFixtures.shakespearePath], output: output, source: .bpe(encoding),
                                             validationFraction: 0.1)
            writer.chunkBytes = 4099
            _ = try writer.write()
            XCTAssertEqual(try Corpus.load(tokenFile: output).tokens.array, try fixtures.referenceIDs(variant, "shakespeare"), variant.name)
        }
    }

    /// nanoGPT's .bin (raw little-endian ids) of either width imports to the token file that
    /// the text gives; a size that is not whole ids, or an id outside the vocabulary, is one
    /// line and nothing is written.
    func testImportedIDsMakeTheSameTokenFile() throws {
        let fixtures = try BPEFixtures.shared()
        let directory = try TemporaryDirectory()
        let variant = BPEFixtures.variants[0]
        let encoding = try fixtures.encoding(variant)
        let ids = try fixtures.referenceIDs(variant, "jumble")
        let text = try directory.file("jumble.txt", text: fixtures.texts["jumble"]!)
        var phases: Set<String> = []
        let fromText = try TokenFileWriter(inputs: [text], output: directory.path("text.tok"), source: .bpe(encoding), validationFraction: 0.1)
            .write { phases.insert($0.phase.rawValue) }
        XCTAssertEqual(phases, ["counting", "writing"])
        for width in [TokenWidth.two, .four] {
            let bin = try directory.file("ids-\(width.rawValue).bin", bytes: ids.flatMap { id in (0..<width.rawValue).map { UInt8(truncatingIfNeeded: id >> (8 * $0)) } })
            let output = directory.path("ids-\(width.rawValue).tok")
            let writer = try TokenFileWriter(inputs: [bin], output: output, source: .ids(width: width, encoding), validationFraction: 0.1)
            writer.chunkBytes = 7   // reads that cut ids
            phases = []
            let header = try writer.write { phases.insert($0.phase.rawValue) }
            XCTAssertEqual(phases, ["writing"], "one pass")
            XCTAssertEqual(header, fromText)
            XCTAssertEqual(try Corpus.load(tokenFile: output).tokens.array, ids)
        }
        let odd = try directory.file("odd.bin", bytes: [1, 0, 2])
        let outside = try directory.file("outside.bin", bytes: [1, 0, UInt8(variant.vocabularySize & 0xFF), UInt8(variant.vocabularySize >> 8)])
        let cases: [(String, TokenWidth, String)] = [
            (odd, .two, "\(odd) has 3 bytes, not a whole number of 2-byte ids (is --dtype uint16 right?)"),
            (outside, .two, "\(outside): id \(variant.vocabularySize) at token 1 is not in the tokenizer's vocabulary of \(variant.vocabularySize)"),
            (outside, .four, "\(outside): id \(variant.vocabularySize << 16 | 1) at token 0 is not in the tokenizer's vocabulary"),
        ]
        for (path, width, expected) in cases {
            let output = directory.path("bad.tok")
            assertThrows(try TokenFileWriter(inputs: [path], output: output, source: .ids(width: width, encoding), validationFraction: 0.1).write(),
                         containing: [expected])
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("bad.tok") }, [])
        }
    }

    /// A checkpoint's vocabulary (its JSON text) restores the same tokenizer; a BPE corpus
    /// read from text with the model's vocabulary has the token file's ids; streamed sample
    /// text equals the whole decoding, partial characters included.
    func testVocabularyStoresAndDecodesTheTokenizer() throws {
        let fixtures = try BPEFixtures.shared()
        let encoding = try fixtures.encoding(BPEFixtures.variants[0])
        let vocabulary = Vocabulary(bytePairEncoding: encoding)
        let restored = try Vocabulary(serialized: vocabulary.serialized)
        XCTAssertEqual(restored, vocabulary)
        XCTAssertEqual(restored.bytePairEncoding?.json, encoding.json)
        XCTAssertEqual(vocabulary.summary, "1000 symbols (bpe)")
        let directory = try TemporaryDirectory()
        let text = try directory.file("emoji.txt", text: fixtures.texts["emoji"]!)
        let corpus = try Corpus.load(path: text, tokenizer: .bpe, validationFraction: 0.1, vocabulary: vocabulary)
        XCTAssertEqual(corpus.tokens.array, try fixtures.referenceIDs(BPEFixtures.variants[0], "emoji"))
        assertThrows(try Corpus.load(path: text, tokenizer: .bpe, validationFraction: 0.1),
                     containing: [text, "the bpe tokenizer needs its tokenizer.json"])
        // A sample may stop inside a character, or draw an id a broken file would not hold.
        let ids = corpus.tokens.array + [encoding.byteIDs[0xF0], encoding.byteIDs[0x9F], Int32(encoding.vocabularySize), 5]
        var stream = TokenTextStream(vocabulary: vocabulary)
        let streamed = ids.map { stream.append($0) }.joined() + stream.flush()
        XCTAssertEqual(streamed, vocabulary.decode(ids))
        XCTAssertTrue(streamed.hasSuffix(fixtures.texts["emoji"]! + "\u{FFFD}\u{FFFD}" + encoding.decode([5])), streamed.debugDescription)
        XCTAssertEqual(vocabulary.defaultPrime, "\n")
    }

    /// Files of format 1, as the previous prepare wrote them (the fuzz seeds), and one
    /// written here, open with their vocabulary, ids and (chars) characters.
    func testFormatOneFilesStillOpen() throws {
        let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/tokenfile")
        for name in ["tok-chars.bin", "tok-bytes.bin"] {
            let file = try TokenFile(path: seeds.appendingPathComponent(name).path)
            XCTAssertEqual(file.header.version, 1, name)
            XCTAssertGreaterThan(file.header.tokenCount, 0, name)
        }
        let directory = try TemporaryDirectory()
        let vocabulary = Vocabulary(tokenizer: .chars, symbols: "abc\n".unicodeScalars.map(\.value))
        let ids: [UInt8] = [0, 1, 2, 3, 2, 1, 0, 3, 0, 0]
        let checksum = ids.withUnsafeBytes { TokenChecksum.of($0) }
        let header = TokenFileHeader(vocabulary: vocabulary, width: .one, tokenCount: ids.count, validationStart: 8,
                                     dataChecksum: checksum, version: 1)
        XCTAssertEqual(header.size, 128, "format 1: symbols at 64")
        let path = try directory.file("old.tok", bytes: header.encoded() + ids)
        let corpus = try Corpus.load(tokenFile: path)
        XCTAssertEqual(corpus.vocabulary, vocabulary)
        XCTAssertEqual(corpus.tokens.array, ids.map(Int32.init))
        XCTAssertEqual(corpus.characters, CharacterCounts(train: 8, validation: 2))
        XCTAssertEqual(corpus.charactersPerToken, 1)
    }
}
