#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only and shared (PROT_READ, MAP_SHARED): its pages live in the
/// page cache, shared by every process that maps the file, and are read from disk only when
/// touched. Nothing is copied into private memory. Unmapped when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's size when it was mapped.
    public let size: Int
    /// The first byte; nil for an empty file (mmap of 0 bytes is invalid).
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw FileIOError.notFound(path: path) }
            throw FileIOError.unreadable(path: path, reason: FileIO.reason(code))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileIOError.unreadable(path: path, reason: FileIO.reason(errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw FileIOError.unreadable(path: path, reason: "is a directory") }
        size = Int(info.st_size)
        guard size > 0 else { base = nil; return }
        let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw FileIOError.unreadable(path: path, reason: "mmap: \(FileIO.reason(errno))")
        }
        base = UnsafeRawPointer(address)
    }

    /// How the pages will be read, for the kernel's read-ahead (madvise).
    public enum Access: Sendable {
        /// Scattered reads (training batches, evaluation samples): no read-ahead, so a rank
        /// faults in only the pages its sequences lie on.
        case random
        /// One pass from start to end (checking a whole file): aggressive read-ahead.
        case sequential
    }

    /// Tells the kernel how the mapping will be read (advice only: a failure changes nothing).
    public func advise(_ access: Access) {
        guard let base else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), size, access == .random ? MADV_RANDOM : MADV_SEQUENTIAL)
    }

    /// The bytes [offset, offset + count), which must lie inside the file.
    public func bytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "bytes \(offset)+\(count) outside \(size)")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }
}
