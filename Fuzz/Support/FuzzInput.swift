import Foundation

/// What every fuzz target shares: the libFuzzer input as bytes, and (for readers that take a
/// path) written to one scratch file per process, removed when the fuzzer exits.
enum FuzzInput {
    static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// One path per process (libFuzzer's -fork/-jobs run several), on tmpfs when there is one.
    static let path: String = {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(folder)/rnn-dist-fuzz-\(getpid())"
        atexit { unlink(FuzzInput.path) }
        return path
    }()

    /// Writes `bytes` to `path` (replacing the previous input) and returns the path.
    static func file(_ bytes: [UInt8]) -> String {
        let written = bytes.withUnsafeBytes { buffer in
            FileManager.default.createFile(atPath: path, contents: Data(buffer))
        }
        precondition(written, "cannot write the fuzz input to \(path)")
        return path
    }
}
