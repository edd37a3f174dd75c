import Buffers
import CMPI

/// The MPI library's own allreduce (sum, in place), one per piece, started as soon as the
/// piece is ready: whatever algorithm the site's MPI chooses (OpenMPI's libnbc schedules, a
/// vendor MPI's tuned or hierarchical ones) does the work. The order of additions is the
/// library's: the same on every rank (MPI requires the result to be), not the ring's, so these
/// bits are not those of `ring` or `two-level`.
///
/// Why persistent requests (MPI_Allreduce_init): MPI_Iallreduce plans the collective and
/// allocates for it on every call; a persistent allreduce is planned once per (buffer, piece)
/// and each round only starts it again, so a training step allocates nothing. The plan is
/// remade when a round brings another buffer or other pieces. Where the library has no
/// persistent allreduce, each piece goes through MPI_Iallreduce (which allocates).
public final class LibraryAllreduce<T: MPIScalar & AdditiveArithmetic>: @unchecked Sendable {
    public let count: Int
    public let maxPieces: Int
    private let communicator: Communicator
    /// Never set: the library does not say which rank it waits for.
    public let wait = PeerWait()

    /// One request per piece: persistent (inactive between rounds) or, without them, the
    /// non-blocking allreduce in flight.
    private let requests: UnsafeMutablePointer<MPI_Request?>
    /// The pieces the persistent requests were made for, and over which buffer.
    private var planned: [Range<Int>]
    private var plannedBuffer: Buffer<T>?
    private var persistent = true

    private var buffer: Buffer<T>?
    private var pieces: [Range<Int>]
    /// Per piece: started, and complete.
    private var started: [Bool]
    private var completed: [Bool]
    private var readyCount = 0
    private var firstUnfinished = 0
    private var failure: Error?
    public private(set) var elementsReducedBeforeFinish = 0
    /// Not counted: the library's messages are its own.
    public let traffic = AllreduceTraffic()
    /// Told of every piece's start and end (nil: nobody watches, the usual case).
    public var observer: AllreduceObserver?

    public init(count: Int, communicator: Communicator, maxPieces: Int = 64) {
        self.count = count
        self.communicator = communicator
        self.maxPieces = maxPieces
        requests = .allocate(capacity: maxPieces)
        requests.initialize(repeating: cmpi_request_null(), count: maxPieces)
        planned = []
        planned.reserveCapacity(maxPieces)
        pieces = []
        pieces.reserveCapacity(maxPieces)
        started = Array(repeating: false, count: maxPieces)
        completed = Array(repeating: false, count: maxPieces)
    }

    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { releasePlan() }
        requests.deallocate()
    }

    @_specialize(exported: true, where T == Float, Pieces == [Range<Int>])
    public func begin<Pieces: Collection<Range<Int>>>(_ buffer: Buffer<T>, pieces: Pieces) throws {
        precondition(buffer.count == count, "library allreduce of \(count) elements given \(buffer.count)")
        precondition(self.buffer == nil, "a library allreduce round is already in progress")
        precondition(pieces.count <= maxPieces, "\(pieces.count) pieces, \(maxPieces) prepared")
        self.pieces.removeAll(keepingCapacity: true)
        var covered = 0
        for range in pieces {
            precondition(range.lowerBound >= 0 && range.upperBound <= count && range.count <= Int(Int32.max),
                         "piece \(range) outside 0..<\(count) or beyond the Int32 count limit")
            self.pieces.append(range)
            covered += range.count
        }
        precondition(covered == count, "pieces cover \(covered) of \(count) elements")
        self.buffer = buffer
        (readyCount, firstUnfinished, failure) = (0, 0, nil)
        for index in self.pieces.indices { (started[index], completed[index]) = (false, self.pieces[index].isEmpty) }
        guard communicator.size > 1, persistent else { return }
        if plannedBuffer !== buffer || planned != self.pieces {
            releasePlan()
            for (index, range) in self.pieces.enumerated() where !range.isEmpty {
                let code = cmpi_allreduce_init(buffer.baseAddress + range.lowerBound, Int32(range.count), T.mpiDatatype,
                                               ReductionOperation.sum.mpiOp, communicator.handle, requests + index)
                if code == MPI_ERR_UNSUPPORTED_OPERATION, index == 0 {
                    persistent = false
                    return
                }
                try MPIError.check(code, "MPI_Allreduce_init(\(range.count) x \(T.self), sum)")
            }
            planned.append(contentsOf: self.pieces)
            plannedBuffer = buffer
        }
    }

    /// The piece is ready on this rank: its allreduce starts (every rank starts the pieces in
    /// the same order, as MPI requires of collectives).
    public func ready(_ range: Range<Int>) {
        precondition(buffer != nil && readyCount < pieces.count && pieces[readyCount] == range,
                     "piece \(range) is not the next one declared")
        let index = readyCount
        readyCount += 1
        observer?.pieceStarted(index, elements: range.count)
        guard failure == nil, communicator.size > 1, !range.isEmpty, let buffer else {
            // Nothing to exchange (or a round already failed, which `finish` throws): final now.
            completed[index] = true
            observer?.pieceSummed(index, elements: range.count)
            return
        }
        do {
            if persistent {
                try MPIError.check(MPI_Start(requests + index), "MPI_Start(allreduce of piece \(index))")
            } else {
                try MPIError.check(MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress + range.lowerBound, Int32(range.count),
                                                  T.mpiDatatype, ReductionOperation.sum.mpiOp, communicator.handle, requests + index),
                                   "MPI_Iallreduce(\(range.count) x \(T.self), sum)")
            }
            started[index] = true
        } catch {
            failure = error
        }
    }

    public func readyAll() {
        precondition(buffer != nil, "readyAll outside a library allreduce round")
        while readyCount < pieces.count { ready(pieces[readyCount]) }
    }

    /// Tests the started pieces: MPI moves a non-blocking collective on only inside MPI calls.
    public func progress() {
        guard failure == nil, buffer != nil else { return }
        do {
            try testStarted()
        } catch {
            failure = error
        }
    }

    public func finish(whileWaiting: () -> Bool = { false }) throws {
        defer { buffer = nil }
        if let failure { throw failure }
        precondition(readyCount == pieces.count, "\(readyCount) of \(pieces.count) pieces are ready")
        try testStarted()
        elementsReducedBeforeFinish = 0
        for index in 0..<(communicator.size > 1 ? firstUnfinished : 0) { elementsReducedBeforeFinish += pieces[index].count }
        var idleWork = true
        while firstUnfinished < pieces.count {
            if idleWork {
                idleWork = whileWaiting()
                try testStarted()
                continue
            }
            if !completed[firstUnfinished] {
                try IdleBackoff.complete(requests + firstUnfinished, operation: "MPI_Test(allreduce of piece \(firstUnfinished))")
                completed[firstUnfinished] = true
                observer?.pieceSummed(firstUnfinished, elements: pieces[firstUnfinished].count)
            }
            firstUnfinished += 1
        }
    }

    private func testStarted() throws {
        for index in firstUnfinished..<readyCount where started[index] && !completed[index] {
            var done: Int32 = 0
            try MPIError.check(MPI_Test(requests + index, &done, cmpi_status_ignore()), "MPI_Test(allreduce of piece \(index))")
            if done != 0 {
                completed[index] = true
                observer?.pieceSummed(index, elements: pieces[index].count)
            }
        }
        while firstUnfinished < readyCount && completed[firstUnfinished] { firstUnfinished += 1 }
    }

    private func releasePlan() {
        for index in planned.indices where requests[index] != cmpi_request_null() {
            _ = MPI_Request_free(requests + index)
            requests[index] = cmpi_request_null()
        }
        planned.removeAll(keepingCapacity: true)
        plannedBuffer = nil
    }
}

extension LibraryAllreduce: PiecewiseAllreduce where T == Float {
    public func begin(round buffer: Buffer<Float>, pieces: [Range<Int>]) throws { try begin(buffer, pieces: pieces) }
}
