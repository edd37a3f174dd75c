/// A configuration mistake, worded for the person who made it.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(String, source: String)
    case wrongType(key: String, expected: String, got: ConfigValue)
    case outOfRange(key: String, value: ConfigValue, allowed: String)
    case notAChoice(key: String, value: ConfigValue, choices: [String])
    case malformed(source: String, reason: String)
    case unreadable(path: String, reason: String)
    case inconsistent(String)
    /// A command-line option that is no config key; `suggestion` is the nearest key's name.
    case unknownFlag(String, suggestion: String?)
    case missingValue(flag: String)
    case unexpectedArgument(String)

    public var description: String {
        switch self {
        case .unknownKey(let key, let source):
            return "unknown config key '\(key)' in \(source) (valid keys: \(ConfigKey.all.map(\.name).joined(separator: ", ")))"
        case .wrongType(let key, let expected, let got):
            return "config key '\(key)' must be \(expected), got \(got)"
        case .outOfRange(let key, let value, let allowed):
            return "config key '\(key)' is \(value), allowed: \(allowed)"
        case .notAChoice(let key, let value, let choices):
            return "config key '\(key)' is \(value), expected one of: \(choices.joined(separator: ", "))"
        case .malformed(let source, let reason):
            return "malformed YAML in \(source): \(reason)"
        case .unreadable(let path, let reason):
            return "cannot read config file \(path): \(reason)"
        case .inconsistent(let reason):
            return "inconsistent configuration: \(reason)"
        case .unknownFlag(let flag, let suggestion):
            let hint = suggestion.map { " (did you mean '--\($0)'?)" } ?? " (rnn-dist train --help lists the options)"
            return "unknown option '\(flag)'\(hint)"
        case .missingValue(let flag):
            return "option '\(flag)' needs a value"
        case .unexpectedArgument(let argument):
            return "unexpected argument '\(argument)' (options are --key value; rnn-dist train --help lists them)"
        }
    }
}
