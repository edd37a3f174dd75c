import Checkpoints
import Foundation
import Safetensors

/// The checkpoint metadata and model files: the input is loaded as a model file (checkpoint or
/// parameters) from disk, the way `rnn-dist sample`/`eval` read one; if it is not a
/// safetensors file, it is read as the JSON string map of a checkpoint's `__metadata__`, so
/// that the metadata decoder is reached without a valid safetensors frame.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    if var file = try? SafetensorsFile.parse(bytes, source: "fuzz") {
        _ = try? Checkpoint.verified(file, path: "fuzz")
        _ = try? ModelFile.load(path: FuzzInput.file(bytes))
        // A mutated tensor breaks the data checksum and the load stops there: once more with
        // the checksum made to match, so that the checks behind it are reached too.
        let checksum = file.dataChecksum()
        if let stored = file.metadata["data_checksum"], stored != checksum,
           file.tensors[SafetensorsFile.metadataKey] == nil {
            file.metadata["data_checksum"] = checksum
            _ = try? ModelFile.load(path: FuzzInput.file(file.serialized()))
        }
    } else if let strings = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
        _ = try? CheckpointMetadata(strings: strings, source: "fuzz")
    }
    return 0
}
