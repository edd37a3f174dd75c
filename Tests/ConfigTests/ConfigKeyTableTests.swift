import Foundation
import TestSupport
import XCTest
import Config

/// The key table is the one declaration of every config key; these tests hold the things
/// that must agree with it: TrainingConfig's properties, configs/default.yaml, the flags,
/// `rnn-dist train --help` and docs/configuration.md.
final class ConfigKeyTableTests: XCTestCase {
    private let root = MPIRun.packageRoot

    /// Each key sets its own property, and every property of TrainingConfig has a key.
    func testEveryPropertyHasExactlyOneKey() {
        let names = ConfigKey.all.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "duplicate key names")
        XCTAssertEqual(Set(ConfigKey.all.map(\.property)).count, names.count, "two keys set the same property")
        XCTAssertEqual(Mirror(reflecting: TrainingConfig()).children.count, names.count,
                       "a TrainingConfig property without a key (or a key for a computed property)")
    }

    /// configs/default.yaml lists exactly the keys, in the table's order, with the table's defaults.
    func testDefaultYAMLListsEveryKeyWithItsDefault() throws {
        let pairs = try ConfigLoader.loadYAML(path: "\(root)/configs/default.yaml")
        XCTAssertEqual(pairs.map(\.0), ConfigKey.all.map(\.name))
        for (name, value) in pairs {
            let key = try XCTUnwrap(ConfigKey.named(name))
            // 300 in YAML is an integer where the key holds 300.0: compare what the key stores.
            var config = TrainingConfig()
            try key.apply(&config, value)
            XCTAssertEqual(key.value(config), key.defaultValue, "default.yaml's \(name): \(value)")
        }
        XCTAssertEqual(try ConfigLoader.load(configPath: "\(root)/configs/default.yaml", flags: []), TrainingConfig())
    }

    /// Every key is a flag, and the flag means what the YAML key means: one non-default value
    /// per key, given both ways, gives the same configuration, which differs from the default.
    func testEveryKeyIsAFlagWithTheYAMLMeaning() throws {
        for key in ConfigKey.all {
            let text = sample(for: key)
            let flags: [String]
            if key.isSwitch {
                flags = [text == "true" ? "--\(key.name)" : "--no-\(key.name)"]
            } else {
                flags = ["--\(key.name)", text]
            }
            let fromFlags = try ConfigLoader.apply(try ConfigFlags.parse(flags), to: TrainingConfig(), source: "flags")
            let fromYAML = try ConfigLoader.apply(try ConfigLoader.parseYAML("\(key.name): \(text)\n", source: "y"),
                                                  to: TrainingConfig(), source: "y")
            XCTAssertEqual(fromFlags, fromYAML, key.name)
            XCTAssertNotEqual(fromFlags, TrainingConfig(), "\(key.name) \(text) changed nothing")
            let inline = try ConfigLoader.apply(try ConfigFlags.parse(["--\(key.name)=\(text)"]), to: TrainingConfig(), source: "f")
            XCTAssertEqual(inline, fromYAML, "--\(key.name)=\(text)")
        }
    }

    func testFlagMistakesAreOneLineNamingTheFlag() {
        let cases: [([String], String)] = [
            (["--hiden", "3"], "unknown option '--hiden' (did you mean '--hidden'?)"),
            (["--frobnicate"], "unknown option '--frobnicate' (rnn-dist train --help lists the options)"),
            (["--no-lr"], "unknown option '--no-lr'"),
            (["--steps"], "option '--steps' needs a value"),
            (["corpus.txt"], "unexpected argument 'corpus.txt'"),
            (["--lr", "fast"], "config key 'lr' must be a number, got 'fast'"),
            (["--lr", "-0.1"], "config key 'lr' is -0.1, allowed: > 0 and <= 10.0"),
            (["--seq-len", "-4"], "config key 'seq-len' is -4, allowed: >= 1"),
            (["--shuffle=maybe"], "config key 'shuffle' must be true or false, got 'maybe'"),
            (["--clip-mode", "l2"], "config key 'clip-mode' is 'l2', expected one of: norm, value, none"),
            (["--optimizer", "sgd", "--weight-decay-mode", "decoupled"],
             "inconsistent configuration: weight-decay-mode decoupled is AdamW: it needs optimizer adam, not sgd"),
            (["--lr-schedule", "plateau", "--eval-every", "0"],
             "inconsistent configuration: lr-schedule plateau and early-stop watch the validation loss: set eval-every"),
        ]
        for (arguments, expected) in cases {
            XCTAssertThrowsError(try ConfigLoader.load(configPath: nil, flags: try ConfigFlags.parse(arguments)), "\(arguments)") { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(arguments): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "\(arguments): one line")
            }
        }
    }

    /// A checkpoint stores the configuration under the key table's names and reads it back
    /// through the table: every key round-trips, for the defaults and for a value of each key
    /// that differs from its default (applied one at a time, as a flag would be).
    func testConfigRecordRoundTripsEveryKey() throws {
        let defaults = TrainingConfig()
        XCTAssertEqual(try ConfigRecord.decode(ConfigRecord.json(defaults), source: "test"), defaults)
        XCTAssertTrue(ConfigRecord.json(defaults).contains(#""seq-len":32"#), ConfigRecord.json(defaults))
        for key in ConfigKey.all {
            let yaml = try ConfigLoader.parseYAML("\(key.name): \(sample(for: key))\n", source: "test")
            let changed = try ConfigLoader.apply(yaml, to: defaults, source: "test")
            XCTAssertEqual(try ConfigRecord.decode(ConfigRecord.json(changed), source: "test"), changed, key.name)
        }
        XCTAssertNil(try ConfigRecord.decode(#"{"seqLen": 64}"#, source: "test"), "the properties' spelling is not a record")
        XCTAssertThrowsError(try ConfigRecord.decode(#"{"seq-len": 64, "warp-drive": 9}"#, source: "test")) { error in
            XCTAssertTrue("\(error)".contains("warp-drive"), "\(error)")
        }
    }

    /// docs/configuration.md is the generated reference, byte for byte.
    func testReferenceDocumentIsCurrent() throws {
        let file = try String(contentsOfFile: "\(root)/docs/configuration.md", encoding: .utf8)
        XCTAssertEqual(file, ConfigReference.markdown,
                       "docs/configuration.md is stale: rnn-dist train --print-config-reference > docs/configuration.md")
        for key in ConfigKey.all { XCTAssertTrue(file.contains("| `\(key.name)` |"), key.name) }
    }

    /// A value that is valid for the key and differs from its default.
    private func sample(for key: ConfigKey) -> String {
        let byPlaceholder = ["<n>": "7", "<n|all>": "all", "<x>": "0.25", "<text>": "corpus.txt", "<path>": "some/file"]
        if let text = byPlaceholder[key.valueName] { return text }
        if key.isSwitch { return key.defaultValue == .bool(true) ? "false" : "true" }
        let words = key.valueName.dropFirst().dropLast().split(separator: "|").map(String.init)
        return words.first { ConfigValue.string($0) != key.defaultValue } ?? words[0]
    }
}
