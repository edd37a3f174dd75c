import Foundation
@testable import TensorBoard
import TestSupport
import XCTest

final class EventFileTests: XCTestCase {
    private var folder: TemporaryDirectory!
    private var directory: String { folder.path }

    override func setUpWithError() throws { folder = try TemporaryDirectory() }
    override func tearDown() { folder = nil }

    func testProtobufPieces() {
        var e = ProtobufEncoder()
        e.appendVarint(300)
        XCTAssertEqual(e.bytes, [0xAC, 0x02])
        e = ProtobufEncoder()
        e.int64(2, -1)
        XCTAssertEqual(e.bytes, [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        e = ProtobufEncoder()
        e.string(3, "brain.Event:2")
        XCTAssertEqual(e.bytes, [0x1A, 13] + Array("brain.Event:2".utf8))
    }

    /// One Event {wall_time 1.5, step 3, summary {value {tag "a", simple_value 1}}}, framed.
    /// The protobuf bytes are worked out by hand from event.proto/summary.proto; the two CRCs
    /// come from an independent bitwise CRC-32C (Python) over the same bytes.
    func testFramedRecordIsByteExact() {
        let event = TensorBoardEvent.scalars([("a", 1.0)], step: 3, wallTime: 1.5)
        let expectedEvent: [UInt8] = [
            0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // wall_time = 1 (fixed64): 1.5
            0x10, 0x03,                                            // step = 2 (varint): 3
            0x2A, 0x0A,                                            // summary = 5, 10 bytes
            0x0A, 0x08,                                            //   value = 1, 8 bytes
            0x0A, 0x01, 0x61,                                      //     tag = 1: "a"
            0x15, 0x00, 0x00, 0x80, 0x3F,                          //     simple_value = 2 (fixed32): 1.0f
        ]
        XCTAssertEqual(event, expectedEvent)
        let expectedRecord: [UInt8] = [
            0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // length 23, uint64 LE
            0xE7, 0xCE, 0xF8, 0x1E,                          // masked CRC-32C of the length bytes
        ] + expectedEvent + [
            0x59, 0x85, 0x99, 0x81,                          // masked CRC-32C of the data
        ]
        XCTAssertEqual(TFRecord.frame(event), expectedRecord)
    }

    func testFileNameAndFirstRecord() throws {
        let writer = try EventFileWriter(directory: directory + "/nested/run")
        try writer.close()
        let name = URL(fileURLWithPath: writer.path).lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)
        let parts = name.split(separator: ".")
        XCTAssertGreaterThanOrEqual(parts.count, 5, name)
        let seconds = try XCTUnwrap(Int(parts[3]), name)
        XCTAssertLessThan(abs(Double(seconds) - Date().timeIntervalSince1970), 60)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: writer.path)))
        let records = try Self.records(in: bytes)
        XCTAssertEqual(records.count, 1)
        // wall_time (fixed64) then file_version = 3.
        XCTAssertEqual(records[0][0], 0x09)
        XCTAssertEqual(Array(records[0][9...]), [0x1A, 13] + Array("brain.Event:2".utf8))
    }

    func testTwoWritersInOneDirectoryGetDistinctFiles() throws {
        let a = try EventFileWriter(directory: directory)
        let b = try EventFileWriter(directory: directory)
        XCTAssertNotEqual(a.path, b.path)
        try a.close()
        try b.close()
    }

    func testErrorsNameThePathAndReason() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/plain-file"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        XCTAssertThrowsError(try EventFileWriter(directory: file)) { error in
            XCTAssertEqual(String(describing: error), "cannot create TensorBoard log directory \(file): a file of that name exists")
        }
        XCTAssertThrowsError(try EventFileWriter(directory: file + "/below")) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.hasPrefix("cannot create TensorBoard log directory \(file)/below: "), text)
        }
        let writer = try EventFileWriter(directory: directory)
        try writer.close()
        try writer.close()
        XCTAssertThrowsError(try writer.add(scalar: "x", value: 1, step: 1)) { error in
            XCTAssertTrue(String(describing: error).contains("already closed"))
        }
    }

    /// Reads every record back, checking the framing and both CRCs.
    static func records(in bytes: [UInt8]) throws -> [[UInt8]] {
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 12 else { throw TensorBoardError.writeFailed(path: "", reason: "truncated header") }
            let length = Int(u64(i))
            guard CRC32C.maskedChecksum(bytes[i..<(i + 8)]) == u32(i + 8) else { throw TensorBoardError.writeFailed(path: "", reason: "length crc") }
            let start = i + 12
            guard bytes.count - start >= length + 4 else { throw TensorBoardError.writeFailed(path: "", reason: "truncated data") }
            let data = Array(bytes[start..<(start + length)])
            guard CRC32C.maskedChecksum(data) == u32(start + length) else { throw TensorBoardError.writeFailed(path: "", reason: "data crc") }
            out.append(data)
            i = start + length + 4
        }
        return out
    }
}
