import Foundation

/// The configuration as a JSON object under the key table's names and spellings — what a
/// YAML file or a flag says (`seq-len: 64`, `lr-schedule: warmup-cosine`) — so that the
/// configuration stored in a checkpoint reads like the file that made it, and is read back
/// through the same key table (its checks included).
public enum ConfigRecord {
    /// Every key with its value as one JSON object (keys sorted).
    public static func json(_ config: TrainingConfig) -> String {
        let object = Dictionary(uniqueKeysWithValues: ConfigKey.all.map { ($0.name, Scalar($0.value(config))) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The configuration of a stored object spelled by the key table, or nil when it is spelled
    /// by the properties (`seqLen`: checkpoints written before; every record has `seq-len`).
    /// Today's defaults with each stored key applied in the table's order (a key that clears
    /// another comes before it); a key this rnn-dist does not know is an error naming it.
    public static func decode(_ text: String, source: String) throws -> TrainingConfig? {
        guard let object = try? JSONDecoder().decode([String: Scalar].self, from: Data(text.utf8)),
              object["seq-len"] != nil else { return nil }
        if let unknown = object.keys.sorted().first(where: { ConfigKey.named($0) == nil }) {
            throw ConfigError.unknownKey(unknown, source: source)
        }
        let pairs = ConfigKey.all.compactMap { key in object[key.name].map { (key.name, $0.value) } }
        return try ConfigLoader.apply(pairs, to: TrainingConfig(), source: source)
    }

    /// One JSON scalar, decoded strictly (a number is not a Bool, 1.5 is not an Int).
    struct Scalar: Codable {
        let value: ConfigValue

        init(_ value: ConfigValue) { self.value = value }

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                value = .null
            } else if let flag = try? container.decode(Bool.self) {
                value = .bool(flag)
            } else if let integer = try? container.decode(Int.self) {
                value = .int(integer)
            } else if let number = try? container.decode(Double.self) {
                value = .double(number)
            } else {
                value = .string(try container.decode(String.self))
            }
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch value {
            case .int(let x): try container.encode(x)
            case .double(let x): try container.encode(x)
            case .string(let x): try container.encode(x)
            case .bool(let x): try container.encode(x)
            case .null: try container.encodeNil()
            }
        }
    }
}
