import Foundation

/// One line of JSON per logged step (rank 0 only).
final class MetricsWriter {
    private let handle: FileHandle

    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw RunError.badInput("cannot create metrics file \(path)")
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func write(_ record: [String: Any]) {
        guard JSONSerialization.isValidJSONObject(record),
              let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        handle.write(data)
        handle.write(Data("\n".utf8))
    }

    deinit { try? handle.close() }
}
