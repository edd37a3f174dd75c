import Foundation
import RunErrors

/// One line of JSON per logged step (rank 0 only).
package final class MetricsWriter {
    private let handle: FileHandle

    /// `append`: a resumed run continues the file of the run it resumes.
    package init(path: String, append: Bool = false) throws {
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let exists = FileManager.default.fileExists(atPath: path)
        guard (append && exists) || FileManager.default.createFile(atPath: path, contents: nil) else {
            throw RunError.badInput("cannot create metrics file \(path)")
        }
        handle = try FileHandle(forWritingTo: url)
        if append { handle.seekToEndOfFile() }
    }

    package func write(_ record: [String: Any]) {
        guard JSONSerialization.isValidJSONObject(record),
              let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        handle.write(data)
        handle.write(Data("\n".utf8))
    }

    deinit { try? handle.close() }
}
