import CMPI
import Synchronization

/// The peer a point-to-point exchange is blocked on, readable from another thread (the
/// collective watchdog): when a host dies, "waiting for rank 2" is the diagnosis.
///
/// Also holds the exchange's two requests, allocated once: the ring allreduce runs every
/// step and must allocate nothing.
public final class PeerWait: @unchecked Sendable {
    /// Rank waited on, or −1 when no exchange is in progress.
    private let peer = Atomic<Int>(-1)
    private let requests = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: 2)

    public init() { requests.initialize(repeating: cmpi_request_null(), count: 2) }

    deinit { requests.deallocate() }

    /// The rank this exchange is waiting for, nil when none is in progress.
    public var waitingOn: Int? {
        let rank = peer.load(ordering: .relaxed)
        return rank < 0 ? nil : rank
    }

    /// Sends `sendCount` elements at `send` to `destination` while receiving `receiveCount`
    /// into `receive` from `source` (what MPI_Sendrecv does), recording which side is
    /// still incomplete: the receive first, then whichever of the two has not completed.
    func exchange<T: MPIScalar>(send: UnsafeMutablePointer<T>, count sendCount: Int, to destination: Int32,
                                receive: UnsafeMutablePointer<T>, count receiveCount: Int, from source: Int32,
                                tag: Int32, communicator: MPI_Comm, operation: @autoclosure () -> String) throws {
        peer.store(Int(source), ordering: .relaxed)
        defer { peer.store(-1, ordering: .relaxed) }
        try MPIError.check(MPI_Irecv(receive, Int32(receiveCount), T.mpiDatatype, source, tag, communicator, requests),
                           operation())
        try MPIError.check(MPI_Isend(send, Int32(sendCount), T.mpiDatatype, destination, tag, communicator, requests + 1),
                           operation())
        var index: Int32 = 0
        try MPIError.check(MPI_Waitany(2, requests, &index, cmpi_status_ignore()), operation())
        let pending = index == 0 ? 1 : 0
        peer.store(Int(pending == 0 ? source : destination), ordering: .relaxed)
        try MPIError.check(MPI_Wait(requests + pending, cmpi_status_ignore()), operation())
    }
}
