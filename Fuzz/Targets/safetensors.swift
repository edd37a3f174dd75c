import Safetensors

/// The safetensors reader: any bytes either parse into tensors that re-serialize to a file
/// that parses back equal, or throw. A trap, a bounds failure or a hang is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let file = try? SafetensorsFile.parse(FuzzInput.bytes(data, size), source: "fuzz") else { return 0 }
    // A parsed file is well-formed, so writing it and reading it back must succeed unchanged.
    guard file.tensors[SafetensorsFile.metadataKey] == nil else { return 0 }
    let again = try! SafetensorsFile.parse(file.serialized(), source: "fuzz (round trip)")
    precondition(again == file, "a parsed safetensors file does not survive serialize + parse")
    _ = file.dataChecksum()
    return 0
}
