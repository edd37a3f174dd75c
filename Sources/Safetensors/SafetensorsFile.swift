import Foundation
import FileIO

/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
/// "__metadata__": {string: string}}` padded with spaces, then the tensor data, with offsets
/// relative to the start of the data. Any safetensors reader (Python, PyTorch, Rust) can load
/// what this writes.
public struct SafetensorsFile: Equatable, Sendable {
    public var tensors: [String: SafetensorsTensor]
    public var metadata: [String: String]

    public static let metadataKey = "__metadata__"
    /// Header sizes beyond this are corrupt (the reference implementation uses the same limit).
    public static let maximumHeaderLength = 100_000_000

    public init(tensors: [String: SafetensorsTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Tensor names in file order: sorted by UTF-8 bytes, so the output is reproducible.
    public var sortedNames: [String] {
        tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The file's bytes. The data section holds the tensors back to back in `sortedNames` order.
    public func serialized() -> [UInt8] {
        precondition(tensors[Self.metadataKey] == nil, "a tensor cannot be named \(Self.metadataKey)")
        var entries = [String]()
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { "\(Self.jsonString($0)):\(Self.jsonString(metadata[$0]!))" }
            entries.append("\(Self.jsonString(Self.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        let names = sortedNames
        for name in names {
            let tensor = tensors[name]!
            let end = offset + tensor.bytes.count
            entries.append("\(Self.jsonString(name)):{\"dtype\":\(Self.jsonString(tensor.dtype)),"
                + "\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Pad so that the data starts 8-byte aligned (8 + N is a multiple of 8).
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for name in names { bytes.append(contentsOf: tensors[name]!.bytes) }
        return bytes
    }

    /// A 16-hex-digit FNV-1a 64 checksum of the data section (tensor bytes in file order),
    /// for checkpoint metadata: it does not depend on the header, so it can be computed
    /// before the metadata that stores it is final.
    public func dataChecksum() -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for name in sortedNames {
            tensors[name]!.bytes.withUnsafeBufferPointer { bytes in
                for byte in bytes {
                    hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                }
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Parses and validates the bytes of a safetensors file; `source` names it in errors.
    public static func parse(_ bytes: [UInt8], source: String) throws -> SafetensorsFile {
        func invalid(_ problem: String) -> SafetensorsError { .invalid(source: source, problem: problem) }

        guard bytes.count >= 8 else {
            throw invalid("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw invalid("header length \(headerLength) exceeds the file size \(bytes.count) minus 8")
        }
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw invalid("header length \(headerLength) exceeds the limit of \(maximumHeaderLength) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = bytes[8..<dataStart]
        guard headerBytes.first == UInt8(ascii: "{") else { throw invalid("header does not start with '{'") }

        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch let error as DecodingError {
            throw invalid("invalid JSON header: \(Self.describe(error))")
        } catch {
            throw invalid("invalid JSON header: \(error)")
        }

        let dataSize = bytes.count - dataStart
        var tensors = [String: SafetensorsTensor](minimumCapacity: header.entries.count)
        var extents = [(begin: Int, end: Int, name: String)]()
        for (name, entry) in header.entries {
            guard let size = SafetensorsTensor.dtypeSizes[entry.dtype] else {
                throw invalid("tensor \(name) has unknown dtype '\(entry.dtype)'")
            }
            guard entry.data_offsets.count == 2 else {
                throw invalid("tensor \(name) has \(entry.data_offsets.count) data offsets instead of 2")
            }
            let begin = entry.data_offsets[0], end = entry.data_offsets[1]
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw invalid("tensor \(name) has data offsets [\(begin), \(end)] outside the \(dataSize) data bytes")
            }
            guard let expected = SafetensorsTensor.byteCount(shape: entry.shape, elementSize: size) else {
                throw invalid("tensor \(name) has an invalid shape \(entry.shape)")
            }
            guard expected == end - begin else {
                throw invalid("tensor \(name) of dtype \(entry.dtype) and shape \(entry.shape) needs \(expected) bytes "
                    + "but its data offsets [\(begin), \(end)] span \(end - begin)")
            }
            extents.append((begin, end, name))
            tensors[name] = try SafetensorsTensor(dtype: entry.dtype, shape: entry.shape,
                                                  bytes: Array(bytes[dataStart + begin ..< dataStart + end]))
        }
        // The data must be covered exactly: no overlaps, no gaps, nothing after the last tensor.
        extents.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        var previous: String?
        for extent in extents {
            if extent.begin < covered {
                throw invalid("data of tensors \(previous!) and \(extent.name) overlap")
            }
            if extent.begin > covered {
                throw invalid("data bytes \(covered)..<\(extent.begin) belong to no tensor")
            }
            covered = extent.end
            previous = extent.name
        }
        guard covered == dataSize else {
            throw invalid("\(dataSize - covered) data bytes after the last tensor belong to no tensor")
        }
        return SafetensorsFile(tensors: tensors, metadata: header.metadata)
    }

    /// Reads and parses the file at `path`.
    public static func read(path: String) throws -> SafetensorsFile {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path: path)
        } catch FileIOError.notFound {
            throw SafetensorsError.missing(path: path)
        }
        return try parse(bytes, source: path)
    }

    /// Writes the file atomically (temporary file, fsync, rename, directory fsync): a crash
    /// leaves either the old file or the complete new one at `path`.
    public func write(to path: String) throws {
        try FileIO.writeAtomically(serialized(), to: path)
    }

    // MARK: JSON

    private struct Header: Decodable {
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]

        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let data_offsets: [Int]
        }

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == SafetensorsFile.metadataKey {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try container.decode(Entry.self, forKey: key)
                }
            }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return context.debugDescription + path(context)
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)'" + path(context)
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\($0.localizedDescription))" } ?? ""
            return context.debugDescription + path(context) + underlying
        @unknown default:
            return "\(error)"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    package static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// A safetensors file or tensor that cannot be used, naming the file and the problem.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case missing(path: String)
    case invalid(source: String, problem: String)
    case unknownDType(String)
    case byteCountMismatch(shape: [Int], dtype: String, bytes: Int)
    case notFloatingPoint(dtype: String)
    case wrongDType(dtype: String, expected: String)

    public var description: String {
        switch self {
        case .missing(let path):
            return "safetensors file not found: \(path)"
        case .invalid(let source, let problem):
            return "\(source) is not a valid safetensors file: \(problem)"
        case .unknownDType(let dtype):
            return "unknown safetensors dtype '\(dtype)'"
        case .byteCountMismatch(let shape, let dtype, let bytes):
            return "\(bytes) bytes do not match a \(dtype) tensor of shape \(shape)"
        case .notFloatingPoint(let dtype):
            return "tensor has dtype \(dtype); expected a floating-point dtype (F32, F64, F16 or BF16)"
        case .wrongDType(let dtype, let expected):
            return "tensor has dtype \(dtype); expected \(expected)"
        }
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension SafetensorsError: LocalizedError { public var errorDescription: String? { description } }
