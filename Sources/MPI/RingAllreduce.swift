import Buffers
import CMPI

/// A ring allreduce (sum) over preallocated scratch: reduce-scatter then allgather with a
/// send-and-receive between ring neighbours, 2(p−1)/p of the buffer sent per rank. `wait`
/// says which neighbour an unfinished exchange is blocked on (for the watchdog's message).
///
/// Why not MPI_Allreduce: OpenMPI's algorithms allocate temporary buffers on every call, and
/// the training step is meant to allocate nothing. Each chunk is summed in ring order and then
/// copied, so every rank ends with bit-identical values.
///
/// Pieces (overlap with the backward pass, docs/design.md §4): a round may reduce its buffer
/// in pieces, declared when it begins and each marked `ready` when it is final, while the
/// caller keeps computing and calls `progress()` now and then; `finish()` then blocks until
/// every piece is summed. Each piece is its own ring over its own p chunks, all pieces in
/// flight at once (a tag each), so both directions of every link carry data and the network is
/// never left waiting for the next `progress()`. Every receive of the round is posted when it
/// begins (a scratch region per reduce-scatter step), so that a neighbour that runs ahead finds
/// it waiting: MPI would otherwise buffer — and allocate for — an unexpected message. An
/// allgather receive may be posted over a chunk this rank still has to send in the
/// reduce-scatter: the chunk's allgather message is caused by the right neighbour having
/// received that send (the sum travels on around the ring), so it never arrives before. The order of additions of an element depends on
/// the pieces, never on when they start: the same pieces give the same bits, overlapped or not.
public final class RingAllreduce<T: MPIScalar & AdditiveArithmetic> {
    public let count: Int
    private let communicator: Communicator
    /// The ring's neighbours (this rank receives from the left, sends to the right), and the
    /// steps of each piece's ring: p − 1 of reduce-scatter, then p − 1 of allgather.
    private let left: Int32, right: Int32, steps: Int
    /// Per piece and reduce-scatter step, a region of ⌈n/p⌉ for the chunk that arrives.
    private let scratch: Buffer<T>
    public let wait: PeerWait

    private struct Piece {
        let range: Range<Int>
        /// Start of its p−1 scratch regions, each `chunkCapacity` long.
        let scratchOffset: Int
        let chunkCapacity: Int
        /// Whether this rank's values of the piece are final (`ready`).
        var isReady = false
        /// Ring step (0..<2(p−1), reduce-scatter first; 2(p−1) when summed), and whether that
        /// step's send is posted.
        var step = 0
        var sendPosted = false
    }

    /// The round in progress: its buffer, its pieces, how many are ready (they become ready in
    /// order), the first one not yet summed, and the first error a non-blocking `progress()` met.
    private var buffer: Buffer<T>?
    private var pieces: [Piece]
    private var readyCount = 0
    private var firstUnfinished = 0
    private var failure: Error?
    /// Elements of the last round whose pieces were fully summed before `finish()` began:
    /// what overlapped with the caller's computation.
    public private(set) var elementsReducedBeforeFinish = 0
    /// The last round's messages to another host (every step's send when the right neighbour
    /// is on one; every step of every piece then waits for a cross-host hop).
    public private(set) var traffic = AllreduceTraffic()
    private let rightIsRemote: Bool
    /// Told of every piece's start and end (nil: nobody watches, the usual case).
    public var observer: AllreduceObserver?

    /// Prepares a ring allreduce of `count` elements on `communicator`, in up to `maxPieces`
    /// pieces per round. `topology` (default: one host) only counts cross-host traffic.
    public init(count: Int, communicator: Communicator, maxPieces: Int = 64, topology: HostTopology? = nil) {
        self.count = count
        self.communicator = communicator
        let p = communicator.size, r = communicator.rank
        (left, right, steps) = (Int32((r + p - 1) % p), Int32((r + 1) % p), 2 * (p - 1))
        rightIsRemote = topology.map { $0.hostOfRank[r] != $0.hostOfRank[(r + 1) % p] } ?? false
        scratch = Buffer(count: max(1, (p - 1) * ((count + p - 1) / p + maxPieces)), repeating: .zero)
        precondition((count + p - 1) / p <= Int(Int32.max), "ring chunk beyond the Int32 count limit")
        wait = PeerWait(slots: maxPieces, steps: max(1, steps))
        pieces = []
        pieces.reserveCapacity(maxPieces)
    }

    /// How many pieces a round may have.
    public var maxPieces: Int { wait.slots }

    /// Sums `buffer` (exactly `count` elements) across all ranks, in place, as one piece.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func sum(_ buffer: Buffer<T>) throws {
        try begin(buffer, pieces: CollectionOfOne(0..<count))
        ready(0..<count)
        try finish()
    }

    /// Starts a round over `buffer` in `pieces`, which must cover it exactly once; every rank
    /// must declare the same pieces in the same order (a piece's messages carry its index as
    /// their tag). Posts every receive; nothing is sent until pieces are ready.
    @_specialize(exported: true, where T == Float, Pieces == [Range<Int>])
    @_specialize(exported: true, where T == Double, Pieces == [Range<Int>])
    public func begin<Pieces: Collection<Range<Int>>>(_ buffer: Buffer<T>, pieces: Pieces) throws {
        precondition(buffer.count == count, "ring allreduce of \(count) elements given \(buffer.count)")
        precondition(self.buffer == nil, "a ring allreduce round is already in progress")
        precondition(pieces.count <= wait.slots, "\(pieces.count) ring pieces, \(wait.slots) prepared")
        self.buffer = buffer
        self.pieces.removeAll(keepingCapacity: true)
        (readyCount, firstUnfinished, failure) = (0, 0, nil)
        let p = communicator.size
        traffic = AllreduceTraffic(crossHostMessages: 0, sequentialCrossHostHops: rightIsRemote && !pieces.isEmpty ? steps : 0)
        var covered = 0, scratchUsed = 0
        for range in pieces {
            precondition(range.lowerBound >= 0 && range.upperBound <= count, "ring piece \(range) outside 0..<\(count)")
            let chunkCapacity = (range.count + p - 1) / p
            self.pieces.append(Piece(range: range, scratchOffset: scratchUsed, chunkCapacity: chunkCapacity))
            scratchUsed += (p - 1) * chunkCapacity
            covered += range.count
        }
        precondition(covered == count, "ring pieces cover \(covered) of \(count) elements")
        guard p > 1 else { return }
        // In step order for each piece: the order in which the left neighbour sends them.
        for index in self.pieces.indices {
            for step in 0..<steps {
                let (_, receive, reduces) = exchange(of: self.pieces[index].range, step: step)
                let into = reduces ? scratchRegion(index, step: step) : buffer.baseAddress + receive.lowerBound
                try wait.postReceive(slot: index, step: step, into: into, count: receive.count, from: left,
                                     tag: Self.tagBase + Int32(index), communicator: communicator.handle,
                                     operation: self.operation(index))
            }
        }
    }

    /// The next piece, `range`, is final on this rank: reduce it (pieces become ready in the
    /// order they were declared; what differs between ranks is only when).
    public func ready(_ range: Range<Int>) {
        precondition(buffer != nil && readyCount < pieces.count && pieces[readyCount].range == range,
                     "ring piece \(range) is not the next one declared")
        pieces[readyCount].isReady = true
        observer?.pieceStarted(readyCount, elements: range.count)
        readyCount += 1
    }

    /// Moves every ready piece on as far as it can without blocking (never throws: an MPI
    /// error is kept and thrown by `finish()`). Cheap enough to call at every time step of BPTT.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func progress() {
        guard failure == nil, buffer != nil else { return }
        do {
            try progressAll()
        } catch {
            failure = error
        }
    }

    /// Every piece not yet ready is: reduce them all (a caller without overlap, after BPTT).
    public func readyAll() {
        precondition(buffer != nil, "readyAll outside a ring allreduce round")
        while readyCount < pieces.count { ready(pieces[readyCount].range) }
    }

    /// Blocks until every piece is summed; all must be ready. While it would wait, it calls
    /// `whileWaiting` (a small piece of useful work each time, false when there is none left),
    /// moving the ring on between calls; then it blocks in MPI.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func finish(whileWaiting: () -> Bool = { false }) throws {
        defer { buffer = nil }
        if let failure { throw failure }
        precondition(readyCount == pieces.count, "\(readyCount) of \(pieces.count) ring pieces are ready")
        // (By index: a slice of `pieces` held here would make its next mutation copy it.)
        elementsReducedBeforeFinish = 0
        for index in 0..<(communicator.size > 1 ? firstUnfinished : 0) {
            elementsReducedBeforeFinish += pieces[index].range.count
        }
        // Block on the lowest unfinished piece, moving all the others on between waits: every
        // rank blocks on its lowest one, whose neighbours have posted (or finished) it too.
        var idleWork = true
        while true {
            try progressAll()
            guard firstUnfinished < pieces.count else { return }
            if idleWork {
                idleWork = whileWaiting()
                if idleWork { continue }
            }
            _ = try advance(firstUnfinished, blocking: true)
        }
    }

    // MARK: - The ring of one piece

    private func progressAll() throws {
        guard communicator.size > 1 else { firstUnfinished = pieces.count; return }
        for index in firstUnfinished..<pieces.count {
            while try advance(index, blocking: false) {}
        }
        while firstUnfinished < pieces.count && pieces[firstUnfinished].step == steps { firstUnfinished += 1 }
    }

    /// One move of piece `index`: post its current step's send, or complete the step (summing
    /// a reduce-scatter chunk into place) and go to the next. False when the piece is summed or
    /// not ready, or (not blocking) when its exchange is still in flight.
    private func advance(_ index: Int, blocking: Bool) throws -> Bool {
        guard let buffer, pieces[index].isReady, pieces[index].step < steps else { return false }
        let step = pieces[index].step
        let (send, receive, reduces) = exchange(of: pieces[index].range, step: step)
        let base = buffer.baseAddress
        if !pieces[index].sendPosted {
            // The previous step is complete (or this is step 0 of a ready piece): what this
            // step sends is final.
            try wait.postSend(slot: index, from: base + send.lowerBound, count: send.count, to: right,
                              tag: Self.tagBase + Int32(index), communicator: communicator.handle,
                              operation: self.operation(index))
            pieces[index].sendPosted = true
            if rightIsRemote && send.count > 0 { traffic.crossHostMessages += 1 }
            return true
        }
        if blocking {
            try wait.complete(slot: index, step: step, source: left, destination: right, operation: self.operation(index))
        } else if try !wait.test(slot: index, step: step, operation: self.operation(index)) {
            return false
        }
        pieces[index].sendPosted = false
        if reduces {
            let arriving = scratchRegion(index, step: step)
            for i in 0..<receive.count { base[receive.lowerBound + i] += arriving[i] }
        }
        pieces[index].step += 1
        if pieces[index].step == steps { observer?.pieceSummed(index, elements: pieces[index].range.count) }
        return true
    }

    private func scratchRegion(_ index: Int, step: Int) -> UnsafeMutablePointer<T> {
        scratch.baseAddress + pieces[index].scratchOffset + step * pieces[index].chunkCapacity
    }

    /// Tags of the pieces' messages: one per piece (a piece's steps arrive in order: MPI does
    /// not let a message overtake an earlier one with the same tag from the same rank).
    private static var tagBase: Int32 { 1000 }

    /// What this rank sends right and receives from the left at `step` of `piece`'s ring, cut
    /// into p chunks (chunk i = n·i/p ..< n·(i+1)/p of the piece's n). Reduce-scatter (steps
    /// 0..<p−1): after it rank r holds the full sum of chunk r+1; allgather (steps
    /// p−1..<2(p−1)) passes the finished chunks around. The left neighbour computes the same
    /// chunk for its send.
    private func exchange(of piece: Range<Int>, step: Int) -> (send: Range<Int>, receive: Range<Int>, reduces: Bool) {
        let p = communicator.size, r = communicator.rank
        let start = piece.lowerBound, n = piece.count
        func chunk(_ index: Int) -> Range<Int> {
            let i = ((index % p) + p) % p
            return start + n * i / p ..< start + n * (i + 1) / p
        }
        if step < p - 1 { return (chunk(r - step), chunk(r - step - 1), true) }
        let s = step - (p - 1)
        return (chunk(r + 1 - s), chunk(r - s), false)
    }

    private func operation(_ index: Int) -> String {
        let p = communicator.size, step = pieces[index].step
        let phase = step < p - 1 ? "reduce-scatter, step \(step)" : "allgather, step \(step - (p - 1))"
        return "ring \(phase) of piece \(index)"
    }
}

extension RingAllreduce: PiecewiseAllreduce where T == Float {
    public func begin(round buffer: Buffer<Float>, pieces: [Range<Int>]) throws { try begin(buffer, pieces: pieces) }
}
