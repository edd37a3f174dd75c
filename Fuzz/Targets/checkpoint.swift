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
    if let file = try? SafetensorsFile.parse(bytes, source: "fuzz") {
        _ = try? Checkpoint.verified(file, path: "fuzz")
        _ = try? ModelFile.load(path: FuzzInput.file(bytes))
    } else if let strings = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
        _ = try? CheckpointMetadata(strings: strings, source: "fuzz")
    }
    return 0
}
