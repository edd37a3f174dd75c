import Foundation

/// A fresh folder under the system's temporary directory, removed when the value goes away
/// (or by `remove()`).
public final class TemporaryDirectory {
    public let path: String

    public init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rnn-dist-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { remove() }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the folder.
    public func path(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `name` in the folder and returns the file's path.
    @discardableResult
    public func file(_ name: String, bytes: [UInt8]) throws -> String {
        let file = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    public func file(_ name: String, text: String) throws -> String {
        try file(name, bytes: Array(text.utf8))
    }
}
