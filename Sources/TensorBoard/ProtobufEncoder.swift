/// The few protobuf wire-format pieces an Event/Summary needs (proto3, little-endian).
public struct ProtobufEncoder {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    mutating func key(_ field: Int, _ type: WireType) {
        precondition(field > 0 && field < 1 << 29, "protobuf field number \(field) out of range")
        appendVarint(UInt64(field) << 3 | type.rawValue)
    }

    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// int64 field: negative values are ten-byte two's-complement varints, as protobuf does.
    public mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        appendLittleEndian(value.bitPattern)
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        appendLittleEndian(value.bitPattern)
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    /// An embedded message.
    public mutating func message(_ field: Int, _ encode: (inout ProtobufEncoder) -> Void) {
        var inner = ProtobufEncoder()
        encode(&inner)
        bytes(field, inner.bytes)
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto, the parts
/// scalar logging uses:
///
///     message Event { double wall_time = 1; int64 step = 2;
///                     oneof what { string file_version = 3; ...; Summary summary = 5; ... } }
///     message Summary { repeated Value value = 1; }
///     message Summary.Value { string node_name = 7; string tag = 1; ...; float simple_value = 2; ... }
public enum TensorBoardEvent {
    /// The first event of every file: file_version "brain.Event:2".
    public static func fileVersion(wallTime: Double, version: String = "brain.Event:2") -> [UInt8] {
        var e = ProtobufEncoder()
        e.double(1, wallTime)
        e.string(3, version)
        return e.bytes
    }

    /// An Event carrying a Summary of scalar values (tag, simple_value) at one step.
    public static func scalars(_ values: [(tag: String, value: Float)], step: Int64, wallTime: Double) -> [UInt8] {
        var e = ProtobufEncoder()
        e.double(1, wallTime)
        e.int64(2, step)
        e.message(5) { summary in
            for (tag, value) in values {
                summary.message(1) { v in
                    v.string(1, tag)
                    v.float(2, value)
                }
            }
        }
        return e.bytes
    }
}

/// TFRecord framing: uint64 length (LE), uint32 masked CRC-32C of those 8 bytes, the data,
/// uint32 masked CRC-32C of the data.
public enum TFRecord {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        var length: [UInt8] = []
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { length.append(contentsOf: $0) }
        out += length
        withUnsafeBytes(of: CRC32C.maskedChecksum(length).littleEndian) { out.append(contentsOf: $0) }
        out += data
        withUnsafeBytes(of: CRC32C.maskedChecksum(data).littleEndian) { out.append(contentsOf: $0) }
        return out
    }
}
