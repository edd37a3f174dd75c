/// The command line's half of the key table: every config key is a flag of the same name.
/// `--name value` and `--name=value` set a key; a true/false key is also set by `--name` and
/// cleared by `--no-name`. Values stay text here and are checked by the key, exactly as a
/// YAML value is, so both give the same message for the same mistake.
public enum ConfigFlags {
    /// The (key, value) pairs of `arguments`, in order (a later flag wins).
    public static func parse(_ arguments: [String]) throws -> [(String, ConfigValue)] {
        var pairs: [(String, ConfigValue)] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else { throw ConfigError.unexpectedArgument(argument) }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
            if let key = ConfigKey.named(name) {
                if let inline {
                    pairs.append((name, .string(inline)))
                } else if key.isSwitch {
                    pairs.append((name, .bool(true)))
                } else {
                    // The next argument is the value even if it starts with '-' (`--lr -0.1`
                    // must reach the key and be refused there, with the key's message).
                    guard index < arguments.count else { throw ConfigError.missingValue(flag: "--\(name)") }
                    pairs.append((name, .string(arguments[index])))
                    index += 1
                }
            } else if name.hasPrefix("no-"), inline == nil, let key = ConfigKey.named(String(name.dropFirst(3))), key.isSwitch {
                pairs.append((key.name, .bool(false)))
            } else {
                throw ConfigError.unknownFlag("--\(name)", suggestion: nearestKey(to: name))
            }
        }
        return pairs
    }

    /// The key within two edits of `name` (a typo), if there is one.
    static func nearestKey(to name: String) -> String? {
        let scored = ConfigKey.all.map { ($0.name, editDistance(Array(name), Array($0.name))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    /// Levenshtein distance, one row at a time.
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
