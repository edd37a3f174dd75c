import Buffers

/// One tensor of a safetensors file: dtype name as in the format ("F32", "F64", "I64", ...),
/// shape, and the raw little-endian bytes.
public struct SafetensorsTensor: Equatable, Sendable {
    public let dtype: String
    public let shape: [Int]
    public let bytes: [UInt8]

    /// Bytes per element of the dtypes the format defines.
    public static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8,
    ]

    /// Product of the shape (1 for a scalar, shape []).
    public var elementCount: Int { shape.reduce(1, *) }

    /// A tensor from raw bytes; throws if the dtype is unknown or the byte count does not
    /// match the shape.
    public init(dtype: String, shape: [Int], bytes: [UInt8]) throws {
        guard let size = Self.dtypeSizes[dtype] else { throw SafetensorsError.unknownDType(dtype) }
        guard let expected = Self.byteCount(shape: shape, elementSize: size), expected == bytes.count else {
            throw SafetensorsError.byteCountMismatch(shape: shape, dtype: dtype, bytes: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Elements × size, or nil for a negative dimension or an overflow.
    package static func byteCount(shape: [Int], elementSize: Int) -> Int? {
        var total = elementSize
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            total = product
        }
        return total
    }

    private init(unchecked dtype: String, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ values: some Collection<T>) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for value in values {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    private static func checkShape(_ shape: [Int], _ count: Int) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == count,
                     "shape \(shape) does not hold \(count) elements")
    }

    /// An F32 tensor; `shape` must hold exactly `values.count` elements.
    public init(floats values: some Collection<Float>, shape: [Int]) {
        Self.checkShape(shape, values.count)
        self.init(unchecked: "F32", shape: shape, bytes: Self.littleEndianBytes(values.lazy.map(\.bitPattern)))
    }

    /// An F32 tensor from `range` of a buffer (e.g. one parameter of the flat buffer).
    public init(buffer: Buffer<Float>, range: Range<Int>, shape: [Int]) {
        self = buffer.withUnsafeMutableBufferPointer(range: range) { SafetensorsTensor(floats: $0, shape: shape) }
    }

    /// An F64 tensor.
    public init(doubles values: some Collection<Double>, shape: [Int]) {
        Self.checkShape(shape, values.count)
        self.init(unchecked: "F64", shape: shape, bytes: Self.littleEndianBytes(values.lazy.map(\.bitPattern)))
    }

    /// An I64 tensor.
    public init(int64s values: some Collection<Int64>, shape: [Int]) {
        Self.checkShape(shape, values.count)
        self.init(unchecked: "I64", shape: shape, bytes: Self.littleEndianBytes(values))
    }

    private func words<T: FixedWidthInteger>(_ type: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        return bytes.withUnsafeBytes { raw in
            (0..<bytes.count / size).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
        }
    }

    /// The values as Float. Converts F64, F16 and BF16 too, so that parameters saved by
    /// PyTorch or NumPy in another float precision can initialize a model; other dtypes throw.
    public func floats() throws -> [Float] {
        switch dtype {
        case "F32": return words(UInt32.self).map { Float(bitPattern: $0) }
        case "F64": return words(UInt64.self).map { Float(Double(bitPattern: $0)) }
        case "BF16": return words(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        case "F16": return words(UInt16.self).map { Self.halfToFloat($0) }
        default: throw SafetensorsError.notFloatingPoint(dtype: dtype)
        }
    }

    /// The values of an F64 tensor (F32 is widened).
    public func doubles() throws -> [Double] {
        switch dtype {
        case "F64": return words(UInt64.self).map { Double(bitPattern: $0) }
        case "F32": return words(UInt32.self).map { Double(Float(bitPattern: $0)) }
        default: throw SafetensorsError.wrongDType(dtype: dtype, expected: "F64 or F32")
        }
    }

    /// The values of an integer tensor (I64, I32, U32, U8 ...), as Int64.
    public func int64s() throws -> [Int64] {
        switch dtype {
        case "I64": return words(Int64.self)
        case "I32": return words(Int32.self).map(Int64.init)
        case "U32": return words(UInt32.self).map(Int64.init)
        case "I16": return words(Int16.self).map(Int64.init)
        case "U16": return words(UInt16.self).map(Int64.init)
        case "I8": return words(Int8.self).map(Int64.init)
        case "U8", "BOOL": return bytes.map(Int64.init)
        default: throw SafetensorsError.wrongDType(dtype: dtype, expected: "an integer dtype")
        }
    }

    /// IEEE binary16 to binary32, by bits (Float16 is not available on every platform).
    package static func halfToFloat(_ half: UInt16) -> Float {
        let sign = UInt32(half >> 15) << 31
        let exponent = Int(half >> 10) & 0x1F
        let mantissa = UInt32(half & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            // Zero or subnormal: value = mantissa · 2^-24.
            let magnitude = Float(mantissa) * 0x1.0p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
