import Foundation

/// The key table as text for people: docs/configuration.md and the key list of `rnn-dist
/// train --help`. Both are generated, so neither can drift from the keys.
public enum ConfigReference {
    /// The whole of docs/configuration.md (`rnn-dist train --print-config-reference` prints
    /// it; ConfigTests fails when the file in the repository differs).
    public static var markdown: String {
        var lines = [
            "# Configuration reference",
            "",
            "<!-- Generated from Sources/Config/ConfigKey.swift by `rnn-dist train --print-config-reference`;",
            "     a test fails when this file is stale. Edit the key table, not this file. -->",
            "",
            "A run is configured by the built-in defaults (the same as `configs/default.yaml`), then a",
            "YAML file given with `--config FILE`, then command-line flags: a later source wins. Every",
            "key is a flag of the same name: `seq-len: 64` in YAML is `--seq-len 64` (or",
            "`--seq-len=64`) on the command line. A true/false key is set by `--name` and cleared by",
            "`--no-name`. `null` unsets a key that has no value by default. An unknown key, a wrong",
            "type or a value out of range stops the run (exit 1) with one line naming the key.",
            "",
            "| key | accepts | default | meaning |",
            "|---|---|---|---|",
        ]
        for key in ConfigKey.all {
            lines.append("| `\(key.name)` | \(cell(key.accepts)) | `\(key.defaultValue.yaml)` | \(cell(key.help)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One entry per key for `--help`: the flag with its value, then the help and the default,
    /// indented by `indent` and wrapped at `width` columns.
    public static func flagHelp(indent: Int = 2, width: Int = 78) -> String {
        let column = 28
        var lines: [String] = []
        for key in ConfigKey.all {
            let flag = key.isSwitch ? "--\(key.name)/--no-\(key.name)" : "--\(key.name) \(key.valueName)"
            let head = String(repeating: " ", count: indent) + flag
            let words = (key.help + defaultNote(key)).split(separator: " ")
            var line = head.count < column - 1 ? head.padding(toLength: column, withPad: " ", startingAt: 0) : head
            if head.count >= column - 1 {
                lines.append(line)
                line = String(repeating: " ", count: column)
            }
            var lineHasWords = false
            for word in words {
                if lineHasWords && line.count + 1 + word.count > width {
                    lines.append(line)
                    line = String(repeating: " ", count: column)
                    lineHasWords = false
                }
                line += (lineHasWords ? " " : "") + word
                lineHasWords = true
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// " (default: 32)"; a key without a default says nothing more when its help already says
    /// what happens then ("default: seq-len").
    private static func defaultNote(_ key: ConfigKey) -> String {
        if key.defaultValue == .null { return key.help.contains("default:") ? "" : " (default: none)" }
        return " (default: \(key.defaultValue.yaml))"
    }

    private static func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
}
