/// A scalar from a YAML file or a command-line flag, before it is checked against its key.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null

    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value): return "'\(value)'"
        case .bool(let value): return String(value)
        case .null: return "null"
        }
    }

    /// The value as a YAML file (or a flag) would spell it: strings unquoted.
    public var yaml: String {
        switch self {
        case .string(let value): return value
        default: return description
        }
    }
}
