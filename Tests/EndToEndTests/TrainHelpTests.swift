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
}
