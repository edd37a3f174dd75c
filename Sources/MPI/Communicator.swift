import Buffers
import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// An MPI communicator with the collectives a data-parallel trainer needs. Every call
/// checks MPI's return code and throws `MPIError`; no pointer or handle escapes.
public struct Communicator {
    let handle: MPI_Comm
    public let rank: Int
    public let size: Int

    /// Largest element count passed to one MPI call. MPI counts are Int32; larger buffers
    /// are split into several calls. Tests lower it to exercise the splitting.
    public var maxElementsPerCall: Int = Int(Int32.max)

    /// MPI_COMM_WORLD, with errors returned to the caller instead of aborting the job.
    /// The first use initializes MPI; a failure there is thrown (to every later caller too).
    public static var world: Communicator {
        get throws { try worldResult.get() }
    }

    private static let worldResult: Result<Communicator, MPIError> = {
        do {
            try MPIRuntime.initialized.get()
            let comm = cmpi_comm_world()!
            var rank: Int32 = 0
            var size: Int32 = 1
            try MPIError.check(MPI_Comm_set_errhandler(comm, cmpi_errors_return()), "MPI_Comm_set_errhandler")
            try MPIError.check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
            try MPIError.check(MPI_Comm_size(comm, &size), "MPI_Comm_size")
            return .success(Communicator(handle: comm, rank: Int(rank), size: Int(size)))
        } catch let error as MPIError {
            return .failure(error)
        } catch {
            fatalError("only MPI calls throw here: \(error)")
        }
    }()

    /// Seconds since an arbitrary origin (MPI_Wtime); valid once `world` has been obtained.
    public static func wallTime() -> Double {
        MPI_Wtime()
    }

    public var isRoot: Bool { rank == 0 }

    public func barrier() throws {
        try MPIError.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Ends every process of the job with `code` (MPI_Abort). Does not return.
    public func abort(code: Int32) -> Never {
        MPIRuntime.aborted = true
        MPI_Abort(handle, code)
        fatalError("MPI_Abort(\(code)) returned") // it never does: the runtime kills every process
    }

    // MARK: allreduce

    /// Reduces `buffer` (or `range` of it) across all ranks, in place.
    public func allreduce<T: MPIScalar>(_ buffer: Buffer<T>, range: Range<Int>? = nil, op: ReductionOperation) throws {
        try buffer.withUnsafeMutableBufferPointer(range: range) { try allreduce(pointer: $0, op: op) }
    }

    /// Reduces an array across all ranks, in place.
    public func allreduce<T: MPIScalar>(_ values: inout [T], op: ReductionOperation) throws {
        try values.withUnsafeMutableBufferPointer { try allreduce(pointer: $0, op: op) }
    }

    /// Reduces one value across all ranks.
    public func allreduce<T: MPIScalar>(_ value: T, op: ReductionOperation) throws -> T {
        var values = [value]
        try allreduce(&values, op: op)
        return values[0]
    }

    private func allreduce<T: MPIScalar>(pointer: UnsafeMutableBufferPointer<T>, op: ReductionOperation) throws {
        // Chunk by chunk without building an array: the training step allocates nothing.
        for start in stride(from: 0, to: pointer.count, by: maxElementsPerCall) {
            let chunk = start ..< min(pointer.count, start + maxElementsPerCall)
            try MPIError.check(
                MPI_Allreduce(cmpi_in_place(), pointer.baseAddress! + chunk.lowerBound, Int32(chunk.count),
                              T.mpiDatatype, op.mpiOp, handle),
                "MPI_Allreduce(\(chunk.count) x \(T.self), \(op.rawValue))")
        }
    }

    /// Starts an in-place allreduce and returns at once; local work can overlap it until
    /// `wait()` on the returned request.
    public func allreduceStarted<T: MPIScalar>(_ buffer: Buffer<T>, range: Range<Int>? = nil, op: ReductionOperation) throws -> Request {
        let range = range ?? 0..<buffer.count
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.count, "allreduce range outside the buffer")
        var handles: [MPI_Request?] = []
        for chunk in chunks(count: range.count) {
            var request: MPI_Request? = cmpi_request_null()
            try MPIError.check(
                MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress + range.lowerBound + chunk.lowerBound,
                               Int32(chunk.count), T.mpiDatatype, op.mpiOp, handle, &request),
                "MPI_Iallreduce(\(chunk.count) x \(T.self), \(op.rawValue))")
            handles.append(request)
        }
        return Request(handles: handles, keepAlive: buffer, operation: "allreduce")
    }

    // MARK: point to point

    /// Sends `send` to `destination` while receiving `receive` from `source` (MPI_Sendrecv,
    /// blocking): one hop of a ring, as the latency benchmark times it.
    public func sendReceive<T: MPIScalar>(_ send: Buffer<T>, to destination: Int, _ receive: Buffer<T>, from source: Int,
                                          tag: Int = 0) throws {
        try MPIError.check(
            MPI_Sendrecv(send.baseAddress, Int32(send.count), T.mpiDatatype, Int32(destination), Int32(tag),
                         receive.baseAddress, Int32(receive.count), T.mpiDatatype, Int32(source), Int32(tag),
                         handle, cmpi_status_ignore()),
            "MPI_Sendrecv(\(send.count) x \(T.self) to rank \(destination), from rank \(source))")
    }

    // MARK: broadcast

    /// Copies `buffer` (or `range` of it) from `root` to every rank.
    public func broadcast<T: MPIScalar>(_ buffer: Buffer<T>, range: Range<Int>? = nil, root: Int) throws {
        try buffer.withUnsafeMutableBufferPointer(range: range) { try broadcast(pointer: $0, root: root) }
    }

    /// Copies an array from `root` to every rank. Ranks other than root receive it into an
    /// array of the same length; use `broadcast(bytes:root:)` when only root knows the length.
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast(pointer: $0, root: root) }
    }

    /// Copies a byte string of any length from `root`; other ranks' input is ignored.
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var length = [bytes.count]
        try broadcast(&length, root: root)
        var received = rank == root ? bytes : [UInt8](repeating: 0, count: length[0])
        try broadcast(&received, root: root)
        return received
    }

    /// Copies a string from `root` to every rank.
    public func broadcast(string: String, root: Int) throws -> String {
        String(decoding: try broadcast(bytes: Array(string.utf8), root: root), as: UTF8.self)
    }

    private func broadcast<T: MPIScalar>(pointer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        for chunk in chunks(count: pointer.count) {
            try MPIError.check(
                MPI_Bcast(pointer.baseAddress! + chunk.lowerBound, Int32(chunk.count), T.mpiDatatype, Int32(root), handle),
                "MPI_Bcast(\(chunk.count) x \(T.self), root \(root))")
        }
    }

    // MARK: gather

    /// Collects `values` (the same count on every rank) at `root`, concatenated in rank
    /// order; other ranks get nil.
    public func gather<T: MPIScalar>(_ values: [T], root: Int) throws -> [T]? {
        precondition(values.count <= Int(Int32.max), "gather of more than Int32.max elements")
        let receivedCount = rank == root ? values.count * size : 0
        var received = [T](unsafeUninitializedCapacity: receivedCount) { _, initialized in initialized = receivedCount }
        try values.withUnsafeBufferPointer { send in
            try received.withUnsafeMutableBufferPointer { receive in
                try MPIError.check(
                    MPI_Gather(send.baseAddress, Int32(values.count), T.mpiDatatype,
                               receive.baseAddress, Int32(values.count), T.mpiDatatype, Int32(root), handle),
                    "MPI_Gather(\(values.count) x \(T.self), root \(root))")
            }
        }
        return rank == root ? received : nil
    }

    // MARK: helpers

    func chunks(count: Int) -> [Range<Int>] { Self.chunks(count: count, limit: maxElementsPerCall) }

    /// Splits `count` elements into consecutive ranges of at most `limit`.
    static func chunks(count: Int, limit: Int) -> [Range<Int>] {
        precondition(limit > 0, "the per-call element limit must be positive")
        return stride(from: 0, to: count, by: limit).map { $0..<min(count, $0 + limit) }
    }
}
