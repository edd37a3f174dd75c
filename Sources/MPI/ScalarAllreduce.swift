import Buffers
import CMPI

/// An allreduce of one value by recursive doubling over MPI_Send/Recv/Sendrecv and two
/// preallocated one-element buffers: ⌈log2 p⌉ exchanges, plus one before and one after for
/// the ranks beyond the largest power of two (they hand their value to a partner and get
/// the result back).
///
/// Why not MPI_Allreduce: OpenMPI's recursive doubling mallocs a temporary on every call,
/// and the per-step agreements of the training loop (stop on a signal) must allocate
/// nothing. Partners combine the same two operands, so every rank ends with the same bits.
public final class ScalarAllreduce<T: MPIScalar & Comparable & AdditiveArithmetic> {
    private let value: Buffer<T>
    private let received: Buffer<T>
    private let communicator: Communicator
    private static var tag: Int32 { 19 }

    public init(communicator: Communicator) {
        self.communicator = communicator
        value = Buffer(count: 1, repeating: .zero)
        received = Buffer(count: 1, repeating: .zero)
    }

    /// `op` of `local` over all ranks.
    public func callAsFunction(_ local: T, op: ReductionOperation) throws -> T {
        value[0] = local
        let p = communicator.size, r = communicator.rank
        guard p > 1 else { return local }
        var powerOfTwo = 1
        while powerOfTwo * 2 <= p { powerOfTwo *= 2 }
        let extra = p - powerOfTwo  // ranks 0 ..< 2·extra pair up: the even one sits out
        if r < 2 * extra, r % 2 == 0 {
            try send(to: r + 1)
            try receive(into: value, from: r + 1)
            return value[0]
        }
        if r < 2 * extra {
            try receive(into: received, from: r - 1)
            combine(op)
        }
        let virtualRank = r < 2 * extra ? r / 2 : r - extra
        var mask = 1
        while mask < powerOfTwo {
            let virtualPartner = virtualRank ^ mask
            let partner = virtualPartner < extra ? 2 * virtualPartner + 1 : virtualPartner + extra
            try MPIError.check(
                MPI_Sendrecv(value.baseAddress, 1, T.mpiDatatype, Int32(partner), Self.tag,
                             received.baseAddress, 1, T.mpiDatatype, Int32(partner), Self.tag,
                             communicator.handle, cmpi_status_ignore()),
                "MPI_Sendrecv(scalar allreduce with rank \(partner))")
            combine(op)
            mask *= 2
        }
        if r < 2 * extra { try send(to: r - 1) }
        return value[0]
    }

    private func combine(_ op: ReductionOperation) {
        switch op {
        case .sum: value[0] = value[0] + received[0]
        case .max: value[0] = max(value[0], received[0])
        case .min: value[0] = min(value[0], received[0])
        }
    }

    private func send(to rank: Int) throws {
        try MPIError.check(MPI_Send(value.baseAddress, 1, T.mpiDatatype, Int32(rank), Self.tag, communicator.handle),
                           "MPI_Send(scalar allreduce to rank \(rank))")
    }

    private func receive(into buffer: Buffer<T>, from rank: Int) throws {
        try MPIError.check(
            MPI_Recv(buffer.baseAddress, 1, T.mpiDatatype, Int32(rank), Self.tag, communicator.handle, cmpi_status_ignore()),
            "MPI_Recv(scalar allreduce from rank \(rank))")
    }
}
