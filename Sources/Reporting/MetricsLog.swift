import Foundation

/// One line of a metrics JSON-lines file (`--metrics`): its numeric values by key. JSON null
/// (how the writer stores NaN and ±∞) reads as NaN; arrays and strings are left out.
public struct MetricsRecord: Equatable, Sendable {
    /// 1-based line number in the file.
    public var line: Int
    public var values: [String: Double]

    public init(line: Int, values: [String: Double]) {
        self.line = line
        self.values = values
    }

    public subscript(key: String) -> Double? { values[key] }

    public var step: Double? { values["step"] }
    public var tokens: Double? { values["tokens"] }
    public var loss: Double? { values["loss"] }
    public var validationLoss: Double? { values["val_loss"] }
    public var gradientNorm: Double? { values["grad_norm"] }
    public var tokensPerSecond: Double? { values["tokens_per_s"] }
}

public enum MetricsLogError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case missingFile(String)
    case unreadable(path: String, reason: String)
    case empty(String)
    case notJSON(path: String, line: Int, excerpt: String)
    case notAnObject(path: String, line: Int)

    public var description: String {
        switch self {
        case .missingFile(let path): return "metrics file \(path) does not exist"
        case .unreadable(let path, let reason): return "cannot read metrics file \(path): \(reason)"
        case .empty(let path): return "metrics file \(path) is empty: no JSON lines to plot"
        case .notJSON(let path, let line, let excerpt):
            return "metrics file \(path), line \(line): not JSON: \(excerpt)"
        case .notAnObject(let path, let line):
            return "metrics file \(path), line \(line): not a JSON object"
        }
    }

    public var errorDescription: String? { description }
}

/// Reads a metrics JSON-lines file back (for `rnn-dist plot`).
public enum MetricsLog {
    /// Every non-blank line as a record. A last line without its newline that does not parse
    /// is a line still being written by a live run and is ignored; any other line that is not
    /// a JSON object is an error naming its line number.
    public static func read(path: String) throws -> [MetricsRecord] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MetricsLogError.missingFile(path)
        }
        guard !isDirectory.boolValue else { throw MetricsLogError.unreadable(path: path, reason: "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MetricsLogError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(data, path: path)
    }

    /// The parsing of `read`, on the file's bytes; `path` names the file in errors.
    public static func parse(_ data: Data, path: String) throws -> [MetricsRecord] {
        let bytes = [UInt8](data)
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let endsWithNewline = bytes.last == UInt8(ascii: "\n")
        var records: [MetricsRecord] = []
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            let text = String(decoding: line, as: UTF8.self)
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
            let isUnfinishedLast = index == lines.count - 1 && !endsWithNewline
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line))
            } catch {
                if isUnfinishedLast { continue }
                throw MetricsLogError.notJSON(path: path, line: lineNumber, excerpt: excerpt(text))
            }
            guard let dictionary = object as? [String: Any] else {
                throw MetricsLogError.notAnObject(path: path, line: lineNumber)
            }
            var values: [String: Double] = [:]
            for (key, value) in dictionary {
                if value is NSNull {
                    values[key] = .nan
                } else if let number = value as? NSNumber, !(value is String) {
                    values[key] = number.doubleValue
                }
            }
            records.append(MetricsRecord(line: lineNumber, values: values))
        }
        guard !records.isEmpty else { throw MetricsLogError.empty(path) }
        return records
    }

    package static func excerpt(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count <= 60 ? "'\(trimmed)'" : "'\(trimmed.prefix(57))...'"
    }
}
