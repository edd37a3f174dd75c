import Foundation
import TestSupport
import XCTest
@testable import TextData

/// The byte-level BPE of a tokenizer.json against the Python `tokenizers` package that
/// trained it: the same ids for every text, encoded whole or streamed in pieces, and the
/// text back from the ids.
final class BytePairEncodingTests: XCTestCase {
    /// Every variant, every text: the ids equal `tokenizers`' of the whole text, and
    /// decoding them gives the text back (with the inserted space of add_prefix_space).
    func testIDsEqualTheTokenizersPackage() throws {
        let fixtures = try BPEFixtures.shared()
        var compared = 0
        for variant in BPEFixtures.variants {
            let encoding = try fixtures.encoding(variant)
            XCTAssertEqual(encoding.vocabularySize, variant.vocabularySize, variant.name)
            for (name, text) in fixtures.texts.sorted(by: { $0.key < $1.key }) where fixtures.hasReference(variant, name) {
                let expected = try fixtures.referenceIDs(variant, name)
                let ids = try encoding.encode(text)
                XCTAssertEqual(ids.count, expected.count, "\(variant.name) \(name)")
                if let first = zip(ids, expected).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
                    XCTFail("\(variant.name) \(name): first difference at id \(first.offset): \(first.element.0) for \(first.element.1), "
                        + "around \(encoding.decode(expected[max(0, first.offset - 3)..<min(expected.count, first.offset + 3)]).debugDescription)")
                }
                compared += expected.count
                let decoded = encoding.decode(ids)
                // add_prefix_space puts a space before each segment (the text, or the text after
                // an added token) that does not start with one; decoding keeps it.
                let original = variant.addPrefixSpace ? Self.prefixingSegments(text, separator: "<|endoftext|>") : text
                XCTAssertEqual(Array(decoded.utf8), Array(original.utf8), "\(variant.name) \(name): decode(encode(x)) == x")
            }
        }
        XCTAssertGreaterThan(compared, 20_000)
        print("compared \(compared) ids with tokenizers")
    }

    /// `text` with a space before each segment between `separator`s that does not start
    /// with one (compared by bytes: a combining mark after the separator is its own scalar).
    static func prefixingSegments(_ text: String, separator: String) -> String {
        let bytes = Array(text.utf8), mark = Array(separator.utf8)
        var result = [UInt8](), segmentStart = true, index = 0
        while index < bytes.count {
            if bytes[index...].starts(with: mark) {
                result += mark
                index += mark.count
                segmentStart = true
                continue
            }
            if segmentStart && bytes[index] != 0x20 { result.append(0x20) }
            segmentStart = false
            result.append(bytes[index])
            index += 1
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// Text given in pieces of 1 to 40 characters (across pre-tokens, added tokens and the
    /// inserted space) encodes to the ids of the whole text.
    func testStreamedPiecesEncodeLikeTheWholeText() throws {
        let fixtures = try BPEFixtures.shared()
        var generator = BPEFixtures.SplitMix(seed: 5)
        for variant in BPEFixtures.variants {
            let encoding = try fixtures.encoding(variant)
            for name in ["jumble", "special", "spacing", "emoji"] {
                let scalars = fixtures.texts[name]!.unicodeScalars.map(\.value)
                var encoder = BytePairEncoder(encoding)
                var ids = [Int32]()
                var start = 0
                while start < scalars.count {
                    let end = min(scalars.count, start + 1 + Int(generator.next() % 40))
                    try encoder.append(Array(scalars[start..<end]), final: false) { ids.append($0) }
                    start = end
                }
                try encoder.append([], final: true) { ids.append($0) }
                XCTAssertEqual(ids, try fixtures.referenceIDs(variant, name), "\(variant.name) \(name)")
            }
        }
    }

    /// The GPT-2 pattern's pieces, each alternative and the whitespace look-ahead.
    func testPreTokenizerSplitsLikeGPT2() {
        func split(_ text: String) -> [String] {
            let scalars = text.unicodeScalars.map(\.value)
            var pieces = [String]()
            scalars.withUnsafeBufferPointer { buffer in
                var start = 0
                while start < buffer.count {
                    let end = PreTokenizer.end(of: buffer, from: start)
                    pieces.append(String(String.UnicodeScalarView(scalars[start..<end].map { Unicode.Scalar($0)! })))
                    start = end
                }
            }
            return pieces
        }
        XCTAssertEqual(split("Hello world's  end!!\n\n  x"), ["Hello", " world", "'s", " ", " end", "!!", "\n\n ", " x"])
        XCTAssertEqual(split("I'LL we'll 42x ²³ é\u{301}"), ["I", "'", "LL", " we", "'ll", " 42", "x", " ²³", " é", "\u{301}"])
        XCTAssertEqual(split(" \n a\t"), [" \n", " a", "\t"])
        XCTAssertEqual(split("\n x"), ["\n", " x"])
        XCTAssertEqual(split("a  "), ["a", "  "])
    }

    /// What is not byte-level BPE is refused by name, in one line.
    func testUnsupportedTokenizersAreRefusedByName() throws {
        func refusal(_ edit: (inout [String: Any]) -> Void) -> String {
            var root: [String: Any] = [
                "model": ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2], "merges": ["a b"]] as [String: Any],
                "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true] as [String: Any],
            ]
            edit(&root)
            let json = try! JSONSerialization.data(withJSONObject: root)
            do {
                _ = try BytePairEncoding(json: Array(json), source: "t.json")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal { _ in }, "accepted")
        XCTAssertTrue(refusal { $0["model"] = ["type": "WordPiece", "vocab": ["a": 0]] }.contains("model type WordPiece is not supported"))
        XCTAssertTrue(refusal { $0["model"] = ["type": "Unigram", "vocab": [["a", 0.0]]] }.contains("model type Unigram"))
        XCTAssertTrue(refusal { $0["normalizer"] = ["type": "NFC"] }.contains("normalizer NFC is not supported"))
        XCTAssertTrue(refusal { $0["pre_tokenizer"] = ["type": "Whitespace"] }.contains("pre-tokenizer Whitespace"))
        XCTAssertTrue(refusal { $0["post_processor"] = ["type": "TemplateProcessing"] }.contains("post-processor TemplateProcessing"))
        XCTAssertTrue(refusal { $0["decoder"] = ["type": "WordPiece"] }.contains("decoder WordPiece"))
        XCTAssertTrue(refusal {
            $0["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": [String](), "dropout": 0.1] as [String: Any]
        }.contains("BPE dropout"))
        XCTAssertTrue(refusal {
            $0["added_tokens"] = [["id": 3, "content": "<s>", "lstrip": true] as [String: Any]]
        }.contains("added token <s> with lstrip"))
        XCTAssertTrue(refusal {
            $0["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": ["a b"]] as [String: Any]
        }.contains("not in the vocabulary"))
        XCTAssertTrue(refusal { $0["pre_tokenizer"] = nil }.contains("missing pre-tokenizer"))
        for message in [refusal { $0["normalizer"] = ["type": "NFC"] }] { XCTAssertFalse(message.contains("\n")) }
        // A text byte the vocabulary lacks is an error, never a silently dropped byte.
        let tiny = try BytePairEncoding(json: Array(#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}}"#.utf8),
                                        source: "t.json")
        XCTAssertThrowsError(try tiny.encode("ab")) { XCTAssertEqual($0 as? TokenizerFileError, .missingByte(0x62)) }
    }

    /// Partial UTF-8 (a sample cut inside a character) and unknown ids decode to U+FFFD.
    func testDecodingReplacesInvalidUTF8() throws {
        let fixtures = try BPEFixtures.shared()
        let encoding = try fixtures.encoding(BPEFixtures.variants[0])
        let euro = encoding.byteIDs[0xE2]   // the first byte of "€" alone
        XCTAssertEqual(encoding.decode([euro] + (try encoding.encode("ab"))), "\u{FFFD}ab")
        XCTAssertEqual(encoding.decode([Int32(encoding.vocabularySize), 0]), "\u{FFFD}<|endoftext|>")
        XCTAssertEqual(encoding.characters(of: euro), 1)
    }
}
