import Config
import TestSupport
import XCTest

final class TrainHelpTests: XCTestCase {
    /// `rnn-dist train --help` lists every key as a flag with its default.
    func testTrainHelpListsEveryKeyWithItsDefault() throws {
        let run = try RNNDistRun()
        defer { run.remove() }
        let help = try run.runAlone(["train", "--help"])
        XCTAssertEqual(help.status, 0, help.output)
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for key in ConfigKey.all {
            let flag = key.isSwitch ? "--\(key.name)/--no-\(key.name)" : "--\(key.name) \(key.valueName)"
            XCTAssertTrue(text.contains(flag + " "), "--help lacks \(flag)")
        }
        for key in ConfigKey.all where key.defaultValue != .null {
            XCTAssertTrue(text.contains("(default: \(key.defaultValue.yaml))"), "--help lacks the default of \(key.name)")
        }
        let reference = try run.runAlone(["train", "--print-config-reference"])
        XCTAssertEqual(reference.stdout, ConfigReference.markdown)
    }

    /// `--print-config` prints the configuration the flags and file resolve to as one JSON line
    /// (the checkpoints' record), read back through the key table to the same configuration;
    /// bad input is one line and exit 1, as for training.
    func testPrintConfigGivesTheResolvedConfigurationAsOneJSONLine() throws {
        let run = try RNNDistRun()
        defer { run.remove() }
        let yaml = run.directory + "/small.yaml"
        try "hidden: 48\naccumulate: 3\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let flags = ["train", "--config", yaml, "--batch-per-rank", "5", "--checkpoint-dir", "/tmp/a b/c"]
        let printed = try run.runAlone(flags + ["--print-config"])
        XCTAssertEqual(printed.status, 0, printed.output)
        let lines = printed.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, printed.stdout)
        let decoded = try XCTUnwrap(ConfigRecord.decode(String(lines[0]), source: "--print-config"))
        let expected = try ConfigLoader.load(configPath: yaml, flags: [
            ("batch-per-rank", .int(5)), ("checkpoint-dir", .string("/tmp/a b/c"))])
        XCTAssertEqual(ConfigRecord.json(decoded), ConfigRecord.json(expected))
        XCTAssertNil(decoded.globalBatch)
        XCTAssertEqual(decoded.accumulate, 3)

        let bad = try run.runAlone(["train", "--hidden", "0", "--print-config"])
        XCTAssertEqual(bad.status, 1, bad.output)
        XCTAssertEqual(bad.stdout, "")
        XCTAssertEqual(bad.stderr, "rnn-dist: config key 'hidden' is 0, allowed: >= 1\n")
    }
}
