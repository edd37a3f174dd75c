import CMPI

/// A non-blocking collective in flight. It keeps the buffer it reads and writes alive
/// until it completes; `wait()` must be called before the buffer is used again.
public final class Request {
    private var handles: [MPI_Request?]
    private let keepAlive: AnyObject
    private let operation: String
    public private(set) var isComplete = false

    init(handles: [MPI_Request?], keepAlive: AnyObject, operation: String) {
        self.handles = handles
        self.keepAlive = keepAlive
        self.operation = operation
        self.isComplete = handles.isEmpty
    }

    /// Blocks until the operation has completed on this rank.
    public func wait() throws {
        guard !isComplete else { return }
        for index in handles.indices {
            try MPIError.check(MPI_Wait(&handles[index], cmpi_status_ignore()), "MPI_Wait(\(operation))")
        }
        isComplete = true
    }

    /// Progresses the operation; true once it has completed.
    @discardableResult
    public func test() throws -> Bool {
        guard !isComplete else { return true }
        var allDone = true
        for index in handles.indices {
            var flag: Int32 = 0
            try MPIError.check(MPI_Test(&handles[index], &flag, cmpi_status_ignore()), "MPI_Test(\(operation))")
            if flag == 0 { allDone = false }
        }
        isComplete = allDone
        return allDone
    }

    deinit {
        // An abandoned request would let MPI write into freed memory: finish it.
        if !isComplete { try? wait() }
        _ = keepAlive
    }
}
