/// A checkpoint that cannot be used, worded for the user.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case invalid(path: String, reason: String)
    case checksumMismatch(path: String, stored: String, computed: String)
    case mismatch(path: String, what: String, checkpoint: String, config: String)
    case noneValid(directory: String, tried: [String])
    case notFound(path: String)

    public var description: String {
        switch self {
        case .invalid(let path, let reason):
            return "checkpoint \(path) is not usable: \(reason)"
        case .checksumMismatch(let path, let stored, let computed):
            return "checkpoint \(path) is corrupt: data checksum \(computed) does not match the stored \(stored)"
        case .mismatch(let path, let what, let checkpoint, let config):
            return "checkpoint \(path) does not match the configuration: \(what) is \(checkpoint) in the checkpoint but \(config) in the configuration"
        case .noneValid(let directory, let tried):
            return tried.isEmpty ? "no checkpoint in \(directory) (looked for checkpoint-*.safetensors)"
                : "no valid checkpoint in \(directory); tried \(tried.joined(separator: "; "))"
        case .notFound(let path):
            return "resume path not found: \(path)"
        }
    }
}
