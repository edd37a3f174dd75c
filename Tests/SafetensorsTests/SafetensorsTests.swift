import Foundation
import TestSupport
import XCTest
import Safetensors

final class SafetensorsTests: XCTestCase {
    private func sample() throws -> SafetensorsFile {
        SafetensorsFile(
            tensors: [
                "W_hh": SafetensorsTensor(floats: [1, -2, 3.5, 0.25, 5, 6], shape: [2, 3]),
                "b_y": SafetensorsTensor(doubles: [0.125, -1e300], shape: [2]),
                "step": SafetensorsTensor(int64s: [Int64.min], shape: []),
                "empty": SafetensorsTensor(floats: [], shape: [0, 4]),
            ],
            metadata: ["format": "rnn-dist/1", "quote\"and\\slash": "line\nbreak\ttab \u{1} é 世界"])
    }

    /// A file from a literal header and data, for the rejection tests.
    private func file(header: String, data: [UInt8]) -> [UInt8] {
        var bytes = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + Array(header.utf8) + data
    }

    func testRoundTrip() throws {
        let original = try sample()
        let bytes = original.serialized()
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        XCTAssertEqual(headerLength % 8, 0, "data starts 8-byte aligned")
        let parsed = try SafetensorsFile.parse(bytes, source: "memory")
        XCTAssertEqual(parsed, original)
        XCTAssertEqual(try parsed.tensors["W_hh"]!.floats(), [1, -2, 3.5, 0.25, 5, 6])
        XCTAssertEqual(try parsed.tensors["b_y"]!.doubles(), [0.125, -1e300])
        XCTAssertEqual(try parsed.tensors["step"]!.int64s(), [Int64.min])
        XCTAssertEqual(parsed.tensors["empty"]!.shape, [0, 4])
        XCTAssertEqual(parsed.serialized(), bytes, "serialization is deterministic")
        assertThrows(try parsed.tensors["step"]!.floats(), containing: ["I64", "floating-point"])
    }

    func testExactBytesOfATinyFile() {
        let file = SafetensorsFile(tensors: ["x": SafetensorsTensor(floats: [1, -2], shape: [2])], metadata: ["k": "v"])
        // 79 header characters, padded with one space to 80 = 0x50.
        let header = #"{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#
        let expected: [UInt8] = [0x50, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8)
            + [0x00, 0x00, 0x80, 0x3F,    // 1.0f  = 0x3F800000 little-endian
               0x00, 0x00, 0x00, 0xC0]    // -2.0f = 0xC0000000
        XCTAssertEqual(file.serialized(), expected)
    }

    func testParseRejectsCorruptFiles() throws {
        let good = try sample().serialized()
        assertThrows(try SafetensorsFile.parse(Array(good.dropLast()), source: "cut.safetensors"),
                     containing: ["cut.safetensors is not a valid safetensors file", "outside the"])
        assertThrows(try SafetensorsFile.parse(Array(good.prefix(5)), source: "five"),
                     containing: ["five", "5 bytes"])

        var flipped = good
        flipped[7] ^= 0x80   // header length's top byte
        assertThrows(try SafetensorsFile.parse(flipped, source: "flipped"),
                     containing: ["flipped is not a valid safetensors file", "header length", "exceeds the file size \(good.count)"])

        let data = [UInt8](repeating: 0, count: 12)
        let overlapping = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: overlapping, data: data), source: "o"), containing: ["overlap"])

        let wrongCount = #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: wrongCount, data: Array(data.prefix(8))), source: "w"),
                     containing: ["tensor x", "needs 12 bytes", "span 8"])

        let gap = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: gap, data: Array(data.prefix(8))), source: "g"),
                     containing: ["data bytes 0..<4 belong to no tensor"])

        let trailing = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: trailing, data: Array(data.prefix(8))), source: "t"),
                     containing: ["4 data bytes after the last tensor"])

        let badDType = #"{"x":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: badDType, data: Array(data.prefix(4))), source: "d"),
                     containing: ["unknown dtype 'F31'"])

        let badJSON = #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]"#
        assertThrows(try SafetensorsFile.parse(file(header: badJSON, data: Array(data.prefix(4))), source: "j"),
                     containing: ["j is not a valid safetensors file", "invalid JSON header"])

        let missingKey = #"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#
        assertThrows(try SafetensorsFile.parse(file(header: missingKey, data: Array(data.prefix(4))), source: "k"),
                     containing: ["missing key 'shape'"])
    }

    func testOtherFloatDTypesConvert() throws {
        // F16: 1.0 = 0x3C00, −2.0 = 0xC000, smallest subnormal 2^-24 = 0x0001, +inf = 0x7C00.
        let half = try SafetensorsTensor(dtype: "F16", shape: [4], bytes: [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C])
        XCTAssertEqual(try half.floats(), [1, -2, 0x1.0p-24, .infinity])
        // BF16: the top half of a float: 1.0 = 0x3F80, −3.0 = 0xC040.
        let brain = try SafetensorsTensor(dtype: "BF16", shape: [2], bytes: [0x80, 0x3F, 0x40, 0xC0])
        XCTAssertEqual(try brain.floats(), [1, -3])
        XCTAssertEqual(try SafetensorsTensor(doubles: [0.5, 3], shape: [2]).floats(), [0.5, 3])
        assertThrows(try SafetensorsTensor(dtype: "F32", shape: [3], bytes: [0, 0, 0, 0]), containing: ["4 bytes", "F32", "[3]"])
    }

    func testDataChecksum() throws {
        let file = try sample()
        XCTAssertEqual(file.dataChecksum().count, 16)
        XCTAssertEqual(file.dataChecksum(), try SafetensorsFile.parse(file.serialized(), source: "m").dataChecksum())
        var changed = file
        changed.tensors["W_hh"] = SafetensorsTensor(floats: [1, -2, 3.5, 0.25, 5, 7], shape: [2, 3])
        XCTAssertNotEqual(changed.dataChecksum(), file.dataChecksum())
        // FNV-1a 64 of no data is its offset basis.
        XCTAssertEqual(SafetensorsFile().dataChecksum(), "cbf29ce484222325")
    }

    func testAtomicWriteAndRead() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/model.safetensors"
        let file = try sample()
        try file.write(to: path)
        XCTAssertEqual(try SafetensorsFile.read(path: path), file)

        var second = file
        second.metadata["step"] = "2"
        try second.write(to: path)   // replaces the existing file
        XCTAssertEqual(try SafetensorsFile.read(path: path), second)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"],
                       "no temporary files are left behind")

        let nowhere = directory.path + "/missing/model.safetensors"
        assertThrows(try file.write(to: nowhere), containing: ["cannot write \(nowhere)", "No such file or directory"])
        let notADirectory = path + "/x.safetensors"
        assertThrows(try file.write(to: notADirectory), containing: ["cannot write \(notADirectory)", "Not a directory"])
        assertThrows(try SafetensorsFile.read(path: nowhere), containing: ["safetensors file not found: \(nowhere)"])
        // A failure after the temporary file exists (rename onto a directory) removes it.
        let occupied = directory.path + "/occupied.safetensors"
        try FileManager.default.createDirectory(atPath: occupied + "/inside", withIntermediateDirectories: true)
        assertThrows(try file.write(to: occupied), containing: ["cannot write \(occupied)", "renaming"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["model.safetensors", "occupied.safetensors"])

        let text = try directory.file("notes.txt", text: "hello, this is not a safetensors file")
        assertThrows(try SafetensorsFile.read(path: text), containing: ["\(text) is not a valid safetensors file"])
    }

    /// Python's reference implementation reads what we write and we read what it writes.
    func testInteroperatesWithPythonSafetensors() throws {
        let interpreter: String
        do { interpreter = try Python.importing(["numpy", "safetensors"], installing: ["numpy", "safetensors"]) } catch {
            throw XCTSkip("\(error)")
        }
        let directory = try TemporaryDirectory()
        let ours = directory.path + "/ours.safetensors"
        let theirs = directory.path + "/theirs.safetensors"
        try sample().write(to: ours)
        let script = """
            import json, sys
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file, save_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({"metadata": metadata, "tensors": {name: {"dtype": str(t.dtype), "shape": list(t.shape),
                "values": [repr(v) for v in t.flatten().tolist()]} for name, t in tensors.items()}}))
            save_file({"W_xh": np.array([[1.5, -2.25], [3.0, 4.0]], dtype=np.float32),
                       "ids": np.array([7, -8], dtype=np.int64)}, sys.argv[2], metadata={"from": "python"})
            """
        let result = try ProcessRunner.run(interpreter, ["-c", script, ours, theirs])
        XCTAssertEqual(result.status, 0, result.output)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["metadata"] as? [String: String], try sample().metadata)
        let tensors = try XCTUnwrap(json["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(tensors["W_hh"]?["dtype"] as? String, "float32")
        XCTAssertEqual(tensors["W_hh"]?["shape"] as? [Int], [2, 3])
        XCTAssertEqual(tensors["W_hh"]?["values"] as? [String], ["1.0", "-2.0", "3.5", "0.25", "5.0", "6.0"])
        XCTAssertEqual(tensors["b_y"]?["values"] as? [String], ["0.125", "-1e+300"])
        XCTAssertEqual(tensors["step"]?["dtype"] as? String, "int64")
        XCTAssertEqual(tensors["step"]?["values"] as? [String], ["-9223372036854775808"])
        XCTAssertEqual(tensors["empty"]?["shape"] as? [Int], [0, 4])

        let written = try SafetensorsFile.read(path: theirs)
        XCTAssertEqual(written.metadata, ["from": "python"])
        XCTAssertEqual(written.tensors["W_xh"]?.shape, [2, 2])
        XCTAssertEqual(try written.tensors["W_xh"]?.floats(), [1.5, -2.25, 3, 4])
        XCTAssertEqual(try written.tensors["ids"]?.int64s(), [7, -8])
    }
}
