import CMPI
import Synchronization

/// The peer a point-to-point exchange is blocked on, readable from another thread (the
/// collective watchdog): when a host dies, "waiting for rank 2" is the diagnosis.
///
/// Also holds the exchanges' requests, allocated once (the ring allreduce runs every step and
/// must allocate nothing): per slot (a piece of the ring), one receive per ring step — all
/// posted ahead of time — and the send in flight. An exchange is posted, then tested
/// (without blocking, while the caller computes) or completed (blocking).
public final class PeerWait: @unchecked Sendable {
    /// Rank waited on, or −1 when no exchange is blocking.
    private let peer = Atomic<Int>(-1)
    /// Per slot: `steps` receives, then the send; MPI_REQUEST_NULL when not in flight.
    private let requests: UnsafeMutablePointer<MPI_Request?>
    public let slots: Int
    let steps: Int

    public init(slots: Int = 1, steps: Int = 1) {
        self.slots = slots
        self.steps = steps
        requests = .allocate(capacity: slots * (steps + 1))
        requests.initialize(repeating: cmpi_request_null(), count: slots * (steps + 1))
    }

    deinit { requests.deallocate() }

    /// The rank this exchange is waiting for, nil when none is in progress.
    public var waitingOn: Int? {
        let rank = peer.load(ordering: .relaxed)
        return rank < 0 ? nil : rank
    }

    private func receiveRequest(slot: Int, step: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + slot * (steps + 1) + step
    }

    private func sendRequest(slot: Int) -> UnsafeMutablePointer<MPI_Request?> { requests + slot * (steps + 1) + steps }

    /// Blocks on `request` (of the caller's own storage) while recording `peer` as the rank
    /// waited on: the algorithms with more than one exchange per step keep their requests.
    func wait(on request: UnsafeMutablePointer<MPI_Request?>, peer rank: Int, operation: @autoclosure () -> String) throws(MPIError) {
        defer { peer.store(-1, ordering: .relaxed) }
        peer.store(rank, ordering: .relaxed)
        try IdleBackoff.complete(request, operation: operation())
    }

    /// Records the rank a polling loop waits for (nil: none).
    func note(peer rank: Int?) { peer.store(rank ?? -1, ordering: .relaxed) }

    /// Starts receiving `count` elements into `receive` from `source`, for `step` of `slot`.
    /// Count 0 posts nothing: the peer sends the same empty chunk.
    func postReceive<T: MPIScalar>(slot: Int, step: Int, into receive: UnsafeMutablePointer<T>, count: Int,
                                   from source: Int32, tag: Int32, communicator: MPI_Comm,
                                   operation: @autoclosure () -> String) throws {
        guard count > 0 else { return }
        try MPIError.check(MPI_Irecv(receive, Int32(count), T.mpiDatatype, source, tag, communicator,
                                     receiveRequest(slot: slot, step: step)), operation())
    }

    /// Starts sending `count` elements at `send` to `destination`: `slot`'s send in flight.
    func postSend<T: MPIScalar>(slot: Int, from send: UnsafeMutablePointer<T>, count: Int, to destination: Int32,
                                tag: Int32, communicator: MPI_Comm, operation: @autoclosure () -> String) throws {
        guard count > 0 else { return }
        try MPIError.check(MPI_Isend(send, Int32(count), T.mpiDatatype, destination, tag, communicator,
                                     sendRequest(slot: slot)), operation())
    }

    /// Whether `step`'s receive and the send of `slot` have completed (without blocking).
    func test(slot: Int, step: Int, operation: @autoclosure () -> String) throws -> Bool {
        var received: Int32 = 0
        try MPIError.check(MPI_Test(receiveRequest(slot: slot, step: step), &received, cmpi_status_ignore()), operation())
        guard received != 0 else { return false }
        var sent: Int32 = 0
        try MPIError.check(MPI_Test(sendRequest(slot: slot), &sent, cmpi_status_ignore()), operation())
        return sent != 0
    }

    /// Blocks until `step`'s receive and the send of `slot` are complete, recording the side
    /// still awaited: the receive from `source` first, then the send to `destination`. Waits
    /// as IdleBackoff does: a peer still computing gets the core back.
    func complete(slot: Int, step: Int, source: Int32, destination: Int32, operation: @autoclosure () -> String) throws {
        defer { peer.store(-1, ordering: .relaxed) }
        peer.store(Int(source), ordering: .relaxed)
        try IdleBackoff.complete(receiveRequest(slot: slot, step: step), operation: operation())
        peer.store(Int(destination), ordering: .relaxed)
        try IdleBackoff.complete(sendRequest(slot: slot), operation: operation())
    }
}
