import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why an event file could not be written; the message names the path and the reason.
public enum TensorBoardError: Error, CustomStringConvertible, LocalizedError {
    case cannotCreateDirectory(path: String, reason: String)
    case cannotCreateFile(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case closed(path: String)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let reason):
            return "cannot create TensorBoard log directory \(path): \(reason)"
        case .cannotCreateFile(let path, let reason):
            return "cannot create TensorBoard event file \(path): \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot write TensorBoard event file \(path): \(reason)"
        case .closed(let path):
            return "TensorBoard event file \(path) is already closed"
        }
    }

    public var errorDescription: String? { description }
}

/// Writes a TensorBoard event file, `DIR/events.out.tfevents.<unix seconds>.<hostname>`:
/// TFRecord-framed Event protobufs, the first one file_version "brain.Event:2", then scalar
/// summaries. `tensorboard --logdir DIR` reads it while it grows; `flush()` makes what was
/// added visible.
public final class EventFileWriter {
    /// The event file's full path.
    public let path: String
    private var file: UnsafeMutablePointer<FILE>?

    /// Creates `directory` (and its parents) if needed and starts a new event file in it.
    public init(directory: String, fileVersion: String = "brain.Event:2") throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw TensorBoardError.cannotCreateDirectory(path: directory, reason: "a file of that name exists")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw TensorBoardError.cannotCreateDirectory(path: directory, reason: Self.reason(of: error))
            }
        }
        let now = Date().timeIntervalSince1970
        let base = (directory.hasSuffix("/") ? directory : directory + "/")
            + "events.out.tfevents.\(Int(now)).\(Self.hostname())"
        // Two writers started in the same second in the same directory must not share a file.
        var candidate = base
        var suffix = 0
        var opened: UnsafeMutablePointer<FILE>?
        while true {
            opened = fopen(candidate, "wbx")  // x: fail if it exists
            if opened != nil { break }
            let code = errno
            guard code == EEXIST, suffix < 1000 else {
                throw TensorBoardError.cannotCreateFile(path: candidate, reason: String(cString: strerror(code)))
            }
            suffix += 1
            candidate = base + ".\(suffix)"
        }
        path = candidate
        file = opened
        try writeRecord(TensorBoardEvent.fileVersion(wallTime: now, version: fileVersion))
        try flush()
    }

    deinit {
        if let file { fclose(file) }
    }

    /// Adds one scalar (stored as float32, as TensorBoard's simple_value is) at `step`.
    /// `wallTime` is seconds since 1970 (default: now).
    public func add(scalar tag: String, value: Double, step: Int, wallTime: Double? = nil) throws {
        try add(scalars: [(tag, value)], step: step, wallTime: wallTime)
    }

    /// Adds several scalars at one step as one Event.
    public func add(scalars: [(tag: String, value: Double)], step: Int, wallTime: Double? = nil) throws {
        guard !scalars.isEmpty else { return }
        let event = TensorBoardEvent.scalars(scalars.map { ($0.tag, Float($0.value)) }, step: Int64(step),
                                             wallTime: wallTime ?? Date().timeIntervalSince1970)
        try writeRecord(event)
    }

    /// Pushes what was added to the file.
    public func flush() throws {
        guard let file else { throw TensorBoardError.closed(path: path) }
        if fflush(file) != 0 {
            throw TensorBoardError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Flushes and closes the file; later calls to add throw. Closing twice is harmless.
    public func close() throws {
        guard let file else { return }
        self.file = nil
        let flushed = fflush(file) == 0
        let code = errno
        let closed = fclose(file) == 0
        if !flushed || !closed {
            throw TensorBoardError.writeFailed(path: path, reason: String(cString: strerror(flushed ? errno : code)))
        }
    }

    private func writeRecord(_ data: [UInt8]) throws {
        guard let file else { throw TensorBoardError.closed(path: path) }
        let record = TFRecord.frame(data)
        let written = record.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        if written != record.count {
            throw TensorBoardError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        // A path component: no slashes.
        let cleaned = name.replacingOccurrences(of: "/", with: "_")
        return cleaned.isEmpty ? "localhost" : cleaned
    }

    private static func reason(of error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
