import Checkpoints
import Config
import Foundation
import RNN
import TextData
import TestSupport
import XCTest

/// Inputs on which the fuzz targets (Fuzz/run.sh) crashed a reader, each now a clean thrown
/// error. A new crash from Fuzz/crashes/ gets a test here before the reader is fixed.
final class FuzzRegressionTests: XCTestCase {
    /// The metadata of a valid checkpoint, as a string map to corrupt one field of.
    private func validMetadata() -> [String: String] {
        CheckpointMetadata(step: 2, epoch: 0, dataCursor: 4, globalBatch: 2, seed: 1234,
                           vocabulary: Vocabulary(tokenizer: .chars, symbols: [97, 98, 99]),
                           architecture: ModelArchitecture(shape: RNNShape(vocabularySize: 3, hiddenSize: 2)), optimizer: .adam,
                           optimizerStepCount: 2, config: TrainingConfig(), ranks: 1).strings
    }

    func testValidMetadataReadsBack() throws {
        let metadata = try CheckpointMetadata(strings: validMetadata(), source: "memory")
        XCTAssertEqual(metadata.shape, RNNShape(vocabularySize: 3, hiddenSize: 2))
    }

    /// fuzz checkpoint: `"hidden":0` in the metadata's model trapped in RNNShape.init.
    func testNonPositiveModelSizesInMetadataThrow() {
        for (hidden, vocabularySize) in [(0, 3), (2, 0), (-1, 3), (2, Int.min)] {
            var strings = validMetadata()
            strings["model"] = #"{"cell":"tanh","hidden":\#(hidden),"vocabulary_size":\#(vocabularySize)}"#
            assertThrows(try CheckpointMetadata(strings: strings, source: "fuzzed.safetensors"),
                         containing: ["fuzzed.safetensors", "hidden \(hidden)", "vocabulary_size \(vocabularySize)", "positive"])
        }
    }

    /// fuzz config: a plain scalar with colons was read as a YAML 1.1 base-60 integer by
    /// Yams, whose arithmetic overflowed (a trap). Base-60 is not YAML 1.2 core: a string now.
    func testSexagesimalScalarIsAStringNotATrap() throws {
        let crash = "hidden: 4\nsteps: 1000:0000:0000061022500061000:0000:0000061022500:00000610220"
        assertThrows(try ConfigLoader.apply(try ConfigLoader.parseYAML(crash, source: "fuzzed.yaml"),
                                            to: TrainingConfig(), source: "fuzzed.yaml"),
                     containing: ["steps", "1000:0000:0000061022500061000:0000:0000061022500:00000610220"])
        let pairs = try ConfigLoader.parseYAML("data: 1:30\n", source: "memory")
        XCTAssertEqual(pairs.map(\.0), ["data"])
        XCTAssertEqual(pairs.first?.1, .string("1:30"))
    }

    /// fuzz tokenfile: a token count of 2^61 − 1 at width 4 passed the header's range check,
    /// and the file size it implies (header + count × 4) overflowed Int: a trap in the reader.
    func testHugeTokenCountIsAnErrorNotAnOverflow() throws {
        let crash = "iVJOTlRPSwoBAAAAgAAAAAQAAAABAAAA/////////x8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADc4OAii4lEAIAAAAABAAAAzgAAgAAAAAAAAAAA"
            + "+P///wAAAAAAAABeXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eAAAAAAAAAAAAAADOAABOAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).tokens").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try XCTUnwrap(Data(base64Encoded: crash)).write(to: URL(fileURLWithPath: path))
        assertThrows(try TokenFile(path: path, verifyData: true), containing: [path, "corrupted header"])
    }
}
