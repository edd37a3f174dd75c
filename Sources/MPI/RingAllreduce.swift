import Buffers
import CMPI

/// A ring allreduce (sum) over preallocated scratch: reduce-scatter then allgather with a
/// send-and-receive between ring neighbours, 2(p−1)/p of the buffer sent per rank. `wait`
/// says which neighbour an unfinished exchange is blocked on (for the watchdog's message).
///
/// Why not MPI_Allreduce: OpenMPI's algorithms allocate temporary buffers on every call, and
/// the training step is meant to allocate nothing. Each chunk is summed in ring order and then
/// copied, so every rank ends with bit-identical values.
public struct RingAllreduce<T: MPIScalar & AdditiveArithmetic> {
    public let count: Int
    private let scratch: Buffer<T>
    private let communicator: Communicator
    public let wait = PeerWait()

    /// Prepares a ring allreduce of `count` elements on `communicator`.
    public init(count: Int, communicator: Communicator) {
        self.count = count
        self.communicator = communicator
        scratch = Buffer(count: max(1, (count + communicator.size - 1) / communicator.size), repeating: .zero)
        precondition(scratch.count <= Int(Int32.max), "ring chunk beyond the Int32 count limit")
    }

    /// Sums `buffer` (exactly `count` elements) across all ranks, in place.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func sum(_ buffer: Buffer<T>) throws {
        precondition(buffer.count == count, "ring allreduce of \(count) elements given \(buffer.count)")
        let p = communicator.size, r = communicator.rank
        guard p > 1 else { return }
        let right = Int32((r + 1) % p), left = Int32((r + p - 1) % p)
        func chunk(_ index: Int) -> Range<Int> {
            let i = ((index % p) + p) % p
            return count * i / p ..< count * (i + 1) / p
        }
        let base = buffer.baseAddress
        // Reduce-scatter: after p−1 steps rank r holds the full sum of chunk r+1.
        for step in 0..<(p - 1) {
            let send = chunk(r - step), receive = chunk(r - step - 1)
            try wait.exchange(send: base + send.lowerBound, count: send.count, to: right,
                              receive: scratch.baseAddress, count: receive.count, from: left, tag: 17,
                              communicator: communicator.handle, operation: "ring reduce-scatter, step \(step)")
            for i in 0..<receive.count { base[receive.lowerBound + i] += scratch.baseAddress[i] }
        }
        // Allgather: pass the finished chunks around the ring.
        for step in 0..<(p - 1) {
            let send = chunk(r + 1 - step), receive = chunk(r - step)
            try wait.exchange(send: base + send.lowerBound, count: send.count, to: right,
                              receive: base + receive.lowerBound, count: receive.count, from: left, tag: 18,
                              communicator: communicator.handle, operation: "ring allgather, step \(step)")
        }
    }
}
