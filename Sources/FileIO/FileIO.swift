import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file operation, with the path and the system's reason.
public enum FileIOError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let path): return "file not found: \(path)"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .unwritable(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Whole-file reads and atomic whole-file writes over POSIX calls, so that failures carry
/// errno (ENOSPC, EACCES, EROFS, ...) instead of Foundation's generic messages.
public enum FileIO {
    package static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// A read-only descriptor of `path`, or the error that names why not.
    private static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw FileIOError.notFound(path: path) }
            throw FileIOError.unreadable(path: path, reason: reason(code))
        }
        return fd
    }

    /// Reads the whole file at `path`.
    public static func readAll(path: String) throws -> [UInt8] {
        let fd = try openForReading(path)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileIOError.unreadable(path: path, reason: reason(errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw FileIOError.unreadable(path: path, reason: "is a directory") }

        var bytes = [UInt8]()
        bytes.reserveCapacity(Int(info.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw FileIOError.unreadable(path: path, reason: reason(errno))
            }
            if got == 0 { break }
            bytes.append(contentsOf: chunk[0..<got])
        }
        return bytes
    }

    /// Replaces the file at `path` with `bytes` atomically: readers see the old file or the
    /// complete new one, never a partial write, even across a crash or power loss (see
    /// `AtomicFileWriter`). On failure the temporary file is removed.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let writer = try AtomicFileWriter(path: path)
        try bytes.withUnsafeBytes { try writer.append($0) }
        try writer.commit()
    }

    /// Reads the file at `path` in chunks of `chunkSize` bytes (the last may be shorter),
    /// so that memory does not grow with the file.
    public static func readChunks(path: String, chunkSize: Int = 1 << 20,
                                  _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try openForReading(path)
        defer { close(fd) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { chunk.deallocate() }
        while true {
            let got = read(fd, chunk.baseAddress, chunkSize)
            if got < 0 {
                if errno == EINTR { continue }
                throw FileIOError.unreadable(path: path, reason: reason(errno))
            }
            if got == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: chunk[0..<got]))
        }
    }
}

/// Writes a file that appears complete or not at all: the bytes go to a temporary file in
/// the same directory (rename is only atomic within one file system); `commit` fsyncs it,
/// renames it over the target and fsyncs the directory so the rename itself is durable.
/// Without `commit` (an error, a thrown-away writer) the temporary file is removed.
public final class AtomicFileWriter {
    public let path: String
    /// Where the bytes go until `commit`; a signal handler may unlink it.
    public let temporaryPath: String
    private let directory: String
    private var descriptor: Int32?
    private var committed = false

    public init(path: String) throws {
        let slash = path.lastIndex(of: "/")
        directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw FileIOError.unwritable(path: path, reason: "path names a directory") }
        self.path = path
        temporaryPath = "\(directory == "/" ? "" : directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIOError.unwritable(path: path, reason: "\(FileIO.reason(errno)) (creating a temporary file in \(directory))") }
        descriptor = fd
    }

    private func failure(_ operation: String, _ code: Int32) -> FileIOError {
        .unwritable(path: path, reason: "\(FileIO.reason(code)) (\(operation))")
    }

    /// Appends `bytes` at the end of what was written so far.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let fd = descriptor else { throw failure("writing after commit", EBADF) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("writing", errno)
            }
            offset += written
        }
    }

    /// Overwrites `bytes` at `offset` (e.g. a header completed once the data is written).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard let fd = descriptor else { throw failure("writing after commit", EBADF) }
        var done = 0
        while done < bytes.count {
            let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("writing", errno)
            }
            done += written
        }
    }

    public func commit() throws {
        guard let fd = descriptor else { return }
        guard fsync(fd) == 0 else { throw failure("fsync", errno) }
        descriptor = nil
        guard close(fd) == 0 else { throw failure("closing", errno) }
        guard rename(temporaryPath, path) == 0 else { throw failure("renaming the temporary file over it", errno) }
        committed = true
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            // Some file systems do not support fsync on directories (EINVAL); the data is
            // already in place then, so only real I/O errors are reported.
            let result = fsync(directoryFD)
            let code = errno
            close(directoryFD)
            if result != 0 && code != EINVAL && code != EROFS { throw failure("fsync of directory \(directory)", code) }
        }
    }

    deinit {
        if let descriptor { close(descriptor) }
        if !committed { unlink(temporaryPath) }
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension FileIOError: LocalizedError { public var errorDescription: String? { description } }
