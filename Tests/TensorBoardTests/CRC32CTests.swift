import XCTest
@testable import TensorBoard

final class CRC32CTests: XCTestCase {
    func testKnownAnswers() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        // RFC 3720 (iSCSI) B.4 test vectors.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
    }

    func testMaskedKnownAnswer() {
        // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, worked by hand:
        // 0x0001C60D | 0x25060000 = 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5.
        XCTAssertEqual(CRC32C.mask(0xE306_9283), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.maskedChecksum(Array("123456789".utf8)), 0xC78A_B0E5)
        // Wraps around modulo 2^32 rather than trapping.
        XCTAssertEqual(CRC32C.mask(0xFFFF_FFFF), 0xA282_EAD7)
    }

    /// Slice-by-8 agrees with the one-bit-at-a-time definition on every length and alignment.
    func testSliceBy8MatchesBitwiseDefinition() {
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            return ~c
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let data: [UInt8] = (0..<300).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, 291 - start] {
                let slice = Array(data[start..<(start + length)])
                XCTAssertEqual(CRC32C.checksum(slice), bitwise(slice), "start \(start) length \(length)")
            }
        }
        // Continuing a CRC equals one CRC over the concatenation.
        let a = Array(data[0..<37]), b = Array(data[37..<300])
        let continued = b.withUnsafeBufferPointer { CRC32C.update(CRC32C.checksum(a), $0) }
        XCTAssertEqual(continued, CRC32C.checksum(data))
    }
}
