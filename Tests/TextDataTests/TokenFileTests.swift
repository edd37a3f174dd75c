import Foundation
import TestSupport
import XCTest
@testable import TextData

/// Token files (DESIGN §3, docs/data.md): `prepare` reproduces exactly the ids, vocabulary,
/// split and checksum of the text path; every damaged or mismatched file is refused at open.
final class TokenFileTests: XCTestCase {
    /// Files and a sub-folder, with 2- and 3-byte UTF-8 characters across the 1 MiB read
    /// chunks: the token file holds the ids of the concatenated text, as `Corpus.load` makes them.
    func testPrepareMatchesTheTextCorpus() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/in/sub", withIntermediateDirectories: true)
        let big = String(repeating: "aé€b\n", count: 180_000)          // 1.62 MB: chunk boundaries fall inside characters
        let parts = ["in/a.txt": big, "in/b.txt": "zz→\n", "in/sub/c.txt": "ωmega\n", "in/.hidden": "ignored"]
        for (name, text) in parts { _ = try directory.file(name, text: text) }
        let whole = try directory.file("whole.txt", text: big + "zz→\n" + "ωmega\n")   // sorted order: a, b, sub/c
        for tokenizer in [Tokenizer.chars, .bytes] {
            let output = directory.path + "/out-\(tokenizer.rawValue).tok"
            let writer = try TokenFileWriter(inputs: [directory.path + "/in"], output: output, tokenizer: tokenizer, validationFraction: 0.1)
            XCTAssertEqual(writer.inputs.map { URL(fileURLWithPath: $0).lastPathComponent }, ["a.txt", "b.txt", "c.txt"])
            var phases: Set<String> = []
            let header = try writer.write { phases.insert($0.phase.rawValue) }
            XCTAssertEqual(phases, ["vocabulary", "writing"])
            let text = try Corpus.load(path: whole, tokenizer: tokenizer, validationFraction: 0.1)
            let mapped = try Corpus.load(tokenFile: output)
            XCTAssertEqual(mapped.vocabulary, text.vocabulary)
            XCTAssertEqual(mapped.validationStart, text.validationStart)
            XCTAssertEqual(mapped.tokens.array, text.tokens.array)
            XCTAssertEqual(mapped.checksum, text.checksum, "a text and its token file have the same identity")
            XCTAssertEqual(header.dataChecksum, text.checksum)
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int, header.fileSize)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }, [])
            try TokenFile(path: output).verify()
        }
    }

    /// A text file above the threshold (64 MB in runs, 100 bytes here) comes with one line of
    /// advice naming it and `prepare`; a smaller one, or a token file, with none.
    func testLargeTextFilesGetAdviceToPrepare() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.file("big.txt", text: String(repeating: "abc\n", count: 30))
        let advised = try Corpus.load(path: path, validationFraction: 0.1, adviceAboveBytes: 100)
        let advice = try XCTUnwrap(advised.advice)
        XCTAssertFalse(advice.contains("\n"))
        XCTAssertTrue(advice.contains(path) && advice.contains("rnn-dist prepare"), advice)
        XCTAssertNil(try Corpus.load(path: path, validationFraction: 0.1, adviceAboveBytes: 120).advice)
        XCTAssertNil(try Corpus.load(path: path, validationFraction: 0.1).advice)
    }

    /// Widths 1, 2, 4 by vocabulary size (256 | 257 | 65 537 symbols), ids read back exactly.
    func testTokenWidthFollowsTheVocabulary() throws {
        let directory = try TemporaryDirectory()
        for (count, width) in [(256, TokenWidth.one), (257, .two), (65_537, .four)] {
            // Scalars from U+10000 (all valid, no surrogates among them), each once, then in reverse.
            let scalars = (0..<count).map { Unicode.Scalar(UInt32(0x10000 + $0))! }
            var text = String.UnicodeScalarView()
            text.append(contentsOf: scalars + scalars.reversed())
            let input = try directory.file("w\(count).txt", text: String(text))
            let output = directory.path + "/w\(count).tok"
            let header = try TokenFileWriter(inputs: [input], output: output, tokenizer: .chars, validationFraction: 0).write()
            XCTAssertEqual(header.width, width)
            let corpus = try Corpus.load(tokenFile: output)
            XCTAssertEqual(corpus.tokens.array, (0..<Int32(count)) + (0..<Int32(count)).reversed())
        }
    }

    /// Every single-byte change of a buffer changes the checksum, and chunking does not.
    func testChecksumSeesEveryByteAndIgnoresChunking() {
        let bytes = (0..<203).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = bytes.withUnsafeBytes { TokenChecksum.of($0) }
        for cut in [0, 1, 7, 8, 9, 100, 203] {
            var checksum = TokenChecksum()
            bytes.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[..<cut])); checksum.update(UnsafeRawBufferPointer(rebasing: $0[cut...])) }
            XCTAssertEqual(checksum.value, whole, "cut at \(cut)")
        }
        for position in bytes.indices {
            var changed = bytes
            changed[position] ^= 0x01
            XCTAssertNotEqual(changed.withUnsafeBytes { TokenChecksum.of($0) }, whole, "flip at byte \(position)")
        }
        XCTAssertNotEqual((bytes + [0]).withUnsafeBytes { TokenChecksum.of($0) }, whole, "a trailing zero byte changes it")
    }

    /// Each damage, one message naming the file and the fault.
    func testDamagedFilesAreRefusedAtOpen() throws {
        let directory = try TemporaryDirectory()
        let input = try directory.file("in.txt", text: String(repeating: "hello token file\n", count: 50))
        let good = directory.path + "/good.tok"
        let header = try TokenFileWriter(inputs: [input], output: good, tokenizer: .chars, validationFraction: 0.1).write()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: good)))
        func damaged(_ name: String, _ change: (inout [UInt8]) -> Void) throws -> String {
            var copy = bytes
            change(&copy)
            return try directory.file(name, bytes: copy)
        }
        // A consistent header (checksum and all) that no prepare writes: 300 symbols, 1-byte ids.
        let narrow = TokenFileHeader(vocabulary: Vocabulary(tokenizer: .chars, symbols: 0..<300), width: .one,
                                     tokenCount: 0, validationStart: 0, dataChecksum: 0).encoded()
        let cases: [(String, String)] = [
            (try damaged("truncated.tok") { $0.removeLast() }, "truncated"),
            (try damaged("long.tok") { $0.append(0) }, "trailing bytes"),
            (try damaged("headless.tok") { $0 = Array($0[0..<40]) }, "shorter than a header"),
            (try damaged("magic.tok") { $0[1] = 0x58 }, "wrong magic"),
            (try damaged("version.tok") { $0[8] = 3 }, "format version 3; this rnn-dist reads versions 1 and 2"),
            (try damaged("header.tok") { $0[70] ^= 0x04 }, "corrupted header (checksum mismatch)"),
            (try damaged("data.tok") { $0[header.size + 100] ^= 0x01 }, "corrupted token data"),
            (try directory.file("narrow.tok", bytes: narrow), "vocabulary of 300 symbols does not fit its token width of 1 byte"),
        ]
        for (path, expected) in cases {
            assertThrows(try TokenFile(path: path), containing: ["token file \(path)", expected])
        }
        XCTAssertTrue(TokenFileHeader.isTokenFile(path: good))
        XCTAssertFalse(TokenFileHeader.isTokenFile(path: input))
        assertThrows(try Corpus.load(tokenFile: good, vocabulary: Vocabulary(tokenizer: .chars, symbols: [0x61])),
                     containing: ["token file \(good)", "not the same vocabulary"])
    }

    /// Inputs that cannot be prepared: one message, and nothing written.
    func testPrepareRefusesBadInputsAndLeavesNothing() throws {
        let directory = try TemporaryDirectory()
        let output = directory.path + "/out.tok"
        try FileManager.default.createDirectory(atPath: directory.path + "/empty/nested", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.path + "/broken", withIntermediateDirectories: true)
        _ = try directory.file("broken/fine.txt", text: "fine\n")
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/broken/gone.txt", withDestinationPath: directory.path + "/nowhere")
        let latin = try directory.file("latin.txt", bytes: [0x61, 0x62, 0xE9, 0x63])
        let blank = try directory.file("blank.txt", bytes: [])
        let cases: [([String], String)] = [
            ([directory.path + "/empty"], "folder \(directory.path)/empty holds no files"),
            ([directory.path + "/broken"], "corpus file not found: \(directory.path)/broken/gone.txt"),
            ([latin], "not valid UTF-8 (first invalid sequence at byte offset 2)"),
            ([blank], "is empty"),
            ([], "no input files"),
        ]
        for (inputs, expected) in cases {
            assertThrows(try TokenFileWriter(inputs: inputs, output: output, tokenizer: .chars, validationFraction: 0.1).write(),
                         containing: [expected])
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("out.tok") }, [],
                           "\(inputs): nothing half-written")
        }
        if geteuid() != 0 {   // root reads files whatever their mode
            let locked = try directory.file("broken/locked.txt", text: "x")
            try FileManager.default.removeItem(atPath: directory.path + "/broken/gone.txt")
            chmod(locked, 0)
            assertThrows(try TokenFileWriter(inputs: [directory.path + "/broken"], output: output, tokenizer: .chars,
                                             validationFraction: 0.1).write(), containing: ["cannot read corpus file \(locked)"])
        }
    }

    /// The O(1)-memory shuffle of large datasets is a permutation, fixed by (seed, epoch).
    func testIndexPermutationIsAPermutation() {
        for count in [1, 2, 3, 5, 64, 1000, 4099] {
            let order = (0..<count).map { IndexPermutation(count: count, seed: 7, epoch: 0)($0) }
            XCTAssertEqual(order.sorted(), Array(0..<count), "count \(count)")
            if count >= 64 {
                XCTAssertNotEqual(order, Array(0..<count))
                XCTAssertNotEqual(order, (0..<count).map { IndexPermutation(count: count, seed: 7, epoch: 1)($0) })
                XCTAssertNotEqual(order, (0..<count).map { IndexPermutation(count: count, seed: 8, epoch: 0)($0) })
            }
        }
        // Above the limit the sampler uses it (the permutation property is the one proven above).
        let large = DistributedSampler.storedPermutationLimit + 3
        let sampler = DistributedSampler(datasetCount: large, globalBatch: 4, rankCount: 2, rank: 1, shuffle: true, seed: 3)
        let order = IndexPermutation(count: large, seed: 3, epoch: 0)
        XCTAssertEqual(sampler.shard(step: 5), [order(22), order(23)])
        XCTAssertNotEqual(sampler.shard(step: 5), [22, 23])
    }
}
