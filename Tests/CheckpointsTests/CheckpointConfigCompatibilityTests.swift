import Checkpoints
import Config
import Foundation
import XCTest

final class CheckpointConfigCompatibilityTests: XCTestCase {
    /// A checkpoint written before a configuration key existed still loads.
    func testOlderConfigWithoutNewKeysDecodes() throws {
        let config = try CheckpointMetadata.decodeConfig(#"{"hidden": 99, "data": "x.txt"}"#)
        XCTAssertEqual(config.hidden, 99)
        XCTAssertEqual(config.data, .file(path: "x.txt"))
        XCTAssertEqual(config.logEvery, TrainingConfig().logEvery)
    }

    /// Choices are stored in a checkpoint's config as the same strings as before they were
    /// enums, so old checkpoints read and new ones read the same way.
    /// A checkpoint written before chrono-delay existed keeps its gate-bias initialization.
    func testCheckpointBeforeChronoDelayKeepsItsInitialization() throws {
        XCTAssertEqual(try CheckpointMetadata.decodeConfig(#"{"gateBias": 3}"#).gateInitialization, .shift(3))
    }

    func testChoicesKeepTheirStringsInCheckpointMetadata() throws {
        let stored = #"{"optimizer": "sgd", "lrSchedule": "warmup-cosine", "clipMode": "none", "clipScope": "local", "#
            + #""onNonfinite": "stop", "bptt": "truncated", "initScheme": "min-char-rnn", "tokenizer": "bytes"}"#
        let config = try CheckpointMetadata.decodeConfig(stored)
        XCTAssertEqual(config.optimizer, .sgd)
        XCTAssertEqual(config.lrSchedule, .warmupCosine)
        XCTAssertEqual(config.clipMode, ClipMode.none)
        XCTAssertEqual(config.clipScope, .local)
        XCTAssertEqual(config.onNonfinite, .stop)
        XCTAssertEqual(config.bptt, .truncated)
        XCTAssertEqual(config.initScheme, .minCharRNN)
        XCTAssertEqual(config.tokenizer, .bytes)
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        for word in [#""lrSchedule":"warmup-cosine""#, #""initScheme":"min-char-rnn""#, #""clipMode":"none""#] {
            XCTAssertTrue(json.contains(word), "\(word) in \(json)")
        }
        XCTAssertThrowsError(try CheckpointMetadata.decodeConfig(#"{"optimizer": "rmsprop"}"#))
    }
}
