import Buffers
import CMPI

/// A two-level (hierarchical) allreduce (sum, in place) over preallocated scratch: within each
/// host a reduce-scatter, across hosts one ring per chunk among that chunk's owners (all rings
/// at once), within each host an allgather. A flat ring waits for 2(p−1) steps whose slowest
/// link crosses hosts; here a piece crosses hosts in 2(hosts−1) sequential steps.
///
/// Chunks and owners: every piece is cut into C chunks, C = the most ranks on one host (chunk
/// c = n·c/C ..< n·(c+1)/C of the piece's n). On a host with L ranks, chunk c belongs to its
/// local rank c mod L: with equal hosts each rank owns one chunk and the rings are "one per local
/// rank index"; a host with fewer ranks gives some of its ranks several chunks (and rings).
///
/// The three phases of a piece, per chunk c:
///   1. gather: every rank of a host sends chunk c to its owner there, which adds the host's
///      values in local rank order, ((x₀ + x₁) + x₂) + …;
///   2. ring: the owners of c on the hosts (host order) run the ring allreduce of RingAllreduce
///      on the hosts' sums, chunk c cut into `hosts` sub-chunks: sub-chunk k's sum starts at host
///      k and adds hosts k+1, k+2, … (mod hosts), each host's sum as one term;
///   3. scatter: the owner sends the finished chunk to the host's other ranks.
/// Within a host the messages go through MPI's point-to-point layer on one host, which OpenMPI
/// carries through shared memory (the vader BTL, with `--mca btl` allowing it, as by default);
/// the order of additions depends only on the topology and the pieces, never on timing, so the
/// same pieces give the same bits with or without overlap, and every rank ends with them.
///
/// Every receive of a round is posted when it begins (no message arrives unexpected, which
/// would make MPI allocate). A scatter receive is posted over a chunk this rank still sends in
/// the gather: the owner's scatter follows its receipt of that send, so it never arrives before.
public final class TwoLevelAllreduce<T: MPIScalar & AdditiveArithmetic>: @unchecked Sendable {
    public let count: Int
    public let topology: HostTopology
    private let communicator: Communicator
    public let wait: PeerWait
    public let maxPieces: Int

    /// This rank's host, its ranks, this rank's index among them; chunks per piece; hosts.
    private let host: Int, locals: [Int], localIndex: Int, chunks: Int, hosts: Int
    /// The chunks this rank owns, and those it does not (each sent to its owner, then received).
    private let owned: [Int], foreign: [Int]
    /// Per owned chunk: its ring neighbours among the chunk's owners (receive left, send right).
    private let ringLeft: [Int32], ringRight: [Int32]
    private let ringSteps: Int
    /// Per foreign chunk: its owner on this host.
    private let foreignOwner: [Int32]

    /// Requests per piece: gather sends (foreign), gather receives (owned × (L−1)), ring
    /// receives (owned × ringSteps), ring sends (owned), scatter sends (owned × (L−1)), scatter
    /// receives (foreign). MPI_REQUEST_NULL when not in flight or complete.
    private let requestsPerPiece: Int
    private let requests: UnsafeMutablePointer<MPI_Request?>
    private let scratch: Buffer<T>
    /// The L contributions of a chunk being added (pointers into the buffer and scratch).
    private let terms: UnsafeMutablePointer<UnsafeMutablePointer<T>>

    private struct Piece {
        let range: Range<Int>
        let scratchOffset: Int
        /// ⌈n/C⌉ and ⌈⌈n/C⌉/hosts⌉: a gathered chunk's and a ring sub-chunk's room in scratch.
        let chunkCapacity: Int, subCapacity: Int
        var isReady = false
        var gatherPosted = false
        var finished = false
    }

    /// Per piece and owned chunk: 0 gathering, 1...ringSteps at ring step (stage − 1), then
    /// ringSteps + 1 when the scatter sends are posted; and whether the ring step's send is posted.
    private var stage: UnsafeMutablePointer<Int>
    private var ringSendPosted: UnsafeMutablePointer<Bool>

    private var buffer: Buffer<T>?
    private var pieces: [Piece]
    private var readyCount = 0
    private var firstUnfinished = 0
    private var failure: Error?
    public private(set) var elementsReducedBeforeFinish = 0
    public private(set) var traffic = AllreduceTraffic()
    /// Told of every piece's start and end (nil: nobody watches, the usual case).
    public var observer: AllreduceObserver?

    /// Prepares a two-level allreduce of `count` elements on `communicator`, whose ranks sit on
    /// hosts as `topology` says (HostTopology.discover, or any grouping), in up to `maxPieces`
    /// pieces per round.
    public init(count: Int, communicator: Communicator, topology: HostTopology, maxPieces: Int = 64) {
        precondition(topology.rankCount == communicator.size, "a topology of \(topology.rankCount) ranks for \(communicator.size)")
        self.count = count
        self.communicator = communicator
        self.topology = topology
        self.maxPieces = maxPieces
        let r = communicator.rank
        let h = topology.hostOfRank[r], me = topology.localIndex(of: r), C = max(1, topology.largestHost)
        let hosts = topology.hostCount
        (host, localIndex, chunks, self.hosts) = (h, me, C, hosts)
        locals = topology.ranksOnHost[h]
        ringSteps = 2 * (hosts - 1)
        let L = topology.ranksOnHost[h].count
        owned = (0..<C).filter { $0 % L == me }
        foreign = (0..<C).filter { $0 % L != me }
        foreignOwner = foreign.map { Int32(topology.ranksOnHost[topology.hostOfRank[r]][$0 % L]) }
        func owner(_ chunk: Int, onHost h: Int) -> Int32 {
            let ranks = topology.ranksOnHost[(h % topology.hostCount + topology.hostCount) % topology.hostCount]
            return Int32(ranks[chunk % ranks.count])
        }
        ringLeft = owned.map { owner($0, onHost: h - 1) }
        ringRight = owned.map { owner($0, onHost: h + 1) }
        let o = owned.count, f = foreign.count
        requestsPerPiece = f + o * (L - 1) + o * ringSteps + o + o * (L - 1) + f
        requests = .allocate(capacity: max(1, maxPieces * requestsPerPiece))
        requests.initialize(repeating: cmpi_request_null(), count: max(1, maxPieces * requestsPerPiece))
        let chunkRoom = (count + chunks - 1) / chunks + maxPieces
        let subRoom = (count + chunks * hosts - 1) / (chunks * hosts) + 2 * maxPieces
        scratch = Buffer(count: max(1, o * (L - 1) * chunkRoom + o * (hosts - 1) * subRoom), repeating: .zero)
        terms = .allocate(capacity: max(1, L))
        stage = .allocate(capacity: max(1, maxPieces * o))
        stage.initialize(repeating: 0, count: max(1, maxPieces * o))
        ringSendPosted = .allocate(capacity: max(1, maxPieces * o))
        ringSendPosted.initialize(repeating: false, count: max(1, maxPieces * o))
        wait = PeerWait()
        pieces = []
        pieces.reserveCapacity(maxPieces)
        precondition(Int(Self.tag(piece: maxPieces, chunk: 0, phase: 0, chunks: chunks)) <= communicator.tagUpperBound,
                     "two-level tags beyond this MPI's MPI_TAG_UB (\(communicator.tagUpperBound)) with \(chunks) ranks on a host")
        precondition((count + chunks - 1) / chunks <= Int(Int32.max), "two-level chunk beyond the Int32 count limit")
    }

    deinit {
        requests.deallocate()
        terms.deallocate()
        stage.deallocate()
        ringSendPosted.deallocate()
    }

    // MARK: - Request and scratch layout

    private func gatherSend(_ piece: Int, _ f: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + f
    }
    /// The receive of owned chunk `o` from the host's local rank `q` (q ≠ this rank's index).
    private func gatherReceive(_ piece: Int, _ o: Int, from q: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + foreign.count + o * (locals.count - 1) + (q < localIndex ? q : q - 1)
    }
    private func ringReceive(_ piece: Int, _ o: Int, step: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + foreign.count + owned.count * (locals.count - 1) + o * ringSteps + step
    }
    private func ringSend(_ piece: Int, _ o: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + foreign.count + owned.count * (locals.count - 1 + ringSteps) + o
    }
    private func scatterSend(_ piece: Int, _ o: Int, to q: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + foreign.count + owned.count * (locals.count + ringSteps) + o * (locals.count - 1)
            + (q < localIndex ? q : q - 1)
    }
    private func scatterReceive(_ piece: Int, _ f: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + foreign.count + owned.count * (2 * locals.count - 1 + ringSteps) + f
    }

    private func gatherScratch(_ piece: Int, _ o: Int, from q: Int) -> UnsafeMutablePointer<T> {
        let p = pieces[piece]
        return scratch.baseAddress + p.scratchOffset + (o * (locals.count - 1) + (q < localIndex ? q : q - 1)) * p.chunkCapacity
    }
    private func ringScratch(_ piece: Int, _ o: Int, step: Int) -> UnsafeMutablePointer<T> {
        let p = pieces[piece]
        return scratch.baseAddress + p.scratchOffset + owned.count * (locals.count - 1) * p.chunkCapacity
            + (o * max(1, hosts - 1) + step) * p.subCapacity
    }

    /// A piece's messages: per (piece, chunk) and phase (0 gather, 1 ring, 2 scatter). Ring steps
    /// share a tag and arrive in order (MPI does not let a message overtake one with the same tag).
    private static func tag(piece: Int, chunk: Int, phase: Int, chunks: Int) -> Int32 {
        Int32(2000 + (piece * chunks + chunk) * 3 + phase)
    }
    private func tag(_ piece: Int, _ chunk: Int, _ phase: Int) -> Int32 { Self.tag(piece: piece, chunk: chunk, phase: phase, chunks: chunks) }

    private var cut: TwoLevelCut { TwoLevelCut(chunks: chunks, hosts: hosts, host: host) }
    private func chunk(_ c: Int, of range: Range<Int>) -> Range<Int> { cut.chunk(c, of: range) }
    private func exchange(of chunk: Range<Int>, step: Int) -> (send: Range<Int>, receive: Range<Int>, reduces: Bool) {
        cut.exchange(of: chunk, step: step)
    }

    // MARK: - A round

    @_specialize(exported: true, where T == Float, Pieces == [Range<Int>])
    @_specialize(exported: true, where T == Double, Pieces == [Range<Int>])
    public func begin<Pieces: Collection<Range<Int>>>(_ buffer: Buffer<T>, pieces: Pieces) throws {
        precondition(buffer.count == count, "two-level allreduce of \(count) elements given \(buffer.count)")
        precondition(self.buffer == nil, "a two-level allreduce round is already in progress")
        precondition(pieces.count <= maxPieces, "\(pieces.count) pieces, \(maxPieces) prepared")
        self.buffer = buffer
        self.pieces.removeAll(keepingCapacity: true)
        (readyCount, firstUnfinished, failure) = (0, 0, nil)
        traffic = AllreduceTraffic(crossHostMessages: 0, sequentialCrossHostHops: owned.isEmpty || pieces.isEmpty ? 0 : ringSteps)
        var covered = 0, scratchUsed = 0
        let L = locals.count
        for range in pieces {
            precondition(range.lowerBound >= 0 && range.upperBound <= count, "piece \(range) outside 0..<\(count)")
            let chunkCapacity = (range.count + chunks - 1) / chunks
            let subCapacity = (chunkCapacity + hosts - 1) / hosts
            self.pieces.append(Piece(range: range, scratchOffset: scratchUsed, chunkCapacity: chunkCapacity, subCapacity: subCapacity))
            scratchUsed += owned.count * ((L - 1) * chunkCapacity + max(0, hosts - 1) * subCapacity)
            covered += range.count
        }
        precondition(covered == count, "pieces cover \(covered) of \(count) elements")
        precondition(scratchUsed <= scratch.count || scratchUsed == 0, "two-level scratch too small")
        let base = buffer.baseAddress
        for index in self.pieces.indices {
            for o in owned.indices { (stage[index * owned.count + o], ringSendPosted[index * owned.count + o]) = (0, false) }
            let range = self.pieces[index].range
            for (o, c) in owned.enumerated() {
                let mine = chunk(c, of: range)
                for q in 0..<L where q != localIndex {
                    try post(receive: gatherReceive(index, o, from: q), into: gatherScratch(index, o, from: q), count: mine.count,
                             from: Int32(locals[q]), tag: tag(index, c, 0), index)
                }
                for step in 0..<ringSteps {
                    let (_, receive, reduces) = exchange(of: mine, step: step)
                    let into = reduces ? ringScratch(index, o, step: step) : base + receive.lowerBound
                    try post(receive: ringReceive(index, o, step: step), into: into, count: receive.count, from: ringLeft[o],
                             tag: tag(index, c, 1), index)
                }
            }
            for (f, c) in foreign.enumerated() {
                let theirs = chunk(c, of: range)
                try post(receive: scatterReceive(index, f), into: base + theirs.lowerBound, count: theirs.count,
                         from: foreignOwner[f], tag: tag(index, c, 2), index)
            }
        }
    }

    public func ready(_ range: Range<Int>) {
        precondition(buffer != nil && readyCount < pieces.count && pieces[readyCount].range == range,
                     "piece \(range) is not the next one declared")
        pieces[readyCount].isReady = true
        observer?.pieceStarted(readyCount, elements: range.count)
        readyCount += 1
    }

    public func readyAll() {
        precondition(buffer != nil, "readyAll outside a two-level allreduce round")
        while readyCount < pieces.count { ready(pieces[readyCount].range) }
    }

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

    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func finish(whileWaiting: () -> Bool = { false }) throws {
        defer { buffer = nil; wait.note(peer: nil) }
        if let failure { throw failure }
        precondition(readyCount == pieces.count, "\(readyCount) of \(pieces.count) pieces are ready")
        elementsReducedBeforeFinish = 0
        for index in 0..<(communicator.size > 1 ? firstUnfinished : 0) {
            elementsReducedBeforeFinish += pieces[index].range.count
        }
        var idleWork = true
        while true {
            try progressAll()
            guard firstUnfinished < pieces.count else { return }
            if idleWork {
                idleWork = whileWaiting()
                if idleWork { continue }
            }
            // Block on what the lowest unfinished piece waits for; every rank's lowest piece
            // has been started (or finished) by the ranks it waits on. A rank with several
            // chunks (a smaller host) runs several rings, and must not sit in one while another
            // could move: it polls instead, and without IdleBackoff's sleeps, which cannot tell
            // a stalled ring from a moving one here.
            if let (request, peer) = try drive(firstUnfinished) {
                if owned.count == 1 {
                    try wait.wait(on: request, peer: peer, operation: operation(firstUnfinished))
                } else {
                    wait.note(peer: peer)
                }
            }
        }
    }

    // MARK: - Moving a piece on

    private func progressAll() throws {
        guard communicator.size > 1 else { firstUnfinished = pieces.count; return }
        for index in firstUnfinished..<pieces.count where pieces[index].isReady && !pieces[index].finished {
            _ = try drive(index)
        }
        while firstUnfinished < pieces.count && pieces[firstUnfinished].finished { firstUnfinished += 1 }
    }

    /// Moves piece `index` on as far as it goes without blocking. Returns the request it now
    /// waits for and that request's peer, or nil when the piece is summed.
    private func drive(_ index: Int) throws -> (UnsafeMutablePointer<MPI_Request?>, Int)? {
        guard let buffer, !pieces[index].finished else { return nil }
        let base = buffer.baseAddress
        let range = pieces[index].range
        let L = locals.count
        if !pieces[index].gatherPosted {
            for (f, c) in foreign.enumerated() {
                let theirs = chunk(c, of: range)
                try post(send: gatherSend(index, f), from: base + theirs.lowerBound, count: theirs.count, to: foreignOwner[f],
                         tag: tag(index, c, 0), index)
            }
            pieces[index].gatherPosted = true
        }
        var blocked: (UnsafeMutablePointer<MPI_Request?>, Int)?
        for (o, c) in owned.enumerated() {
            let at = index * owned.count + o
            let mine = chunk(c, of: range)
            chunkLoop: while true {
                if stage[at] == 0 {
                    for q in 0..<L where q != localIndex {
                        if try !isComplete(gatherReceive(index, o, from: q), index) {
                            blocked = blocked ?? (gatherReceive(index, o, from: q), locals[q])
                            break chunkLoop
                        }
                    }
                    addHostTerms(mine, index: index, o: o, base: base)
                    stage[at] = 1
                } else if stage[at] <= ringSteps {
                    let step = stage[at] - 1
                    let (send, receive, reduces) = exchange(of: mine, step: step)
                    if !ringSendPosted[at] {
                        try post(send: ringSend(index, o), from: base + send.lowerBound, count: send.count, to: ringRight[o],
                                 tag: tag(index, c, 1), index)
                        if send.count > 0 { traffic.crossHostMessages += 1 }
                        ringSendPosted[at] = true
                    }
                    if try !isComplete(ringReceive(index, o, step: step), index) {
                        blocked = blocked ?? (ringReceive(index, o, step: step), Int(ringLeft[o]))
                        break chunkLoop
                    }
                    if try !isComplete(ringSend(index, o), index) {
                        blocked = blocked ?? (ringSend(index, o), Int(ringRight[o]))
                        break chunkLoop
                    }
                    ringSendPosted[at] = false
                    if reduces {
                        let arriving = ringScratch(index, o, step: step)
                        for i in 0..<receive.count { base[receive.lowerBound + i] += arriving[i] }
                    }
                    stage[at] += 1
                } else if stage[at] == ringSteps + 1 {
                    for q in 0..<L where q != localIndex {
                        try post(send: scatterSend(index, o, to: q), from: base + mine.lowerBound, count: mine.count,
                                 to: Int32(locals[q]), tag: tag(index, c, 2), index)
                    }
                    stage[at] += 1
                } else {
                    break chunkLoop
                }
            }
        }
        if let blocked { return blocked }
        for (f, _) in foreign.enumerated() where try !isComplete(scatterReceive(index, f), index) {
            return (scatterReceive(index, f), Int(foreignOwner[f]))
        }
        for (f, _) in foreign.enumerated() where try !isComplete(gatherSend(index, f), index) {
            return (gatherSend(index, f), Int(foreignOwner[f]))
        }
        for o in owned.indices {
            for q in 0..<L where q != localIndex {
                if try !isComplete(scatterSend(index, o, to: q), index) { return (scatterSend(index, o, to: q), locals[q]) }
            }
        }
        pieces[index].finished = true
        observer?.pieceSummed(index, elements: range.count)
        return nil
    }

    /// The host's sum of chunk `mine`, in local rank order ((x₀ + x₁) + x₂) + …, into this
    /// rank's buffer (whose own values are one of the terms: each element's terms are all read
    /// before it is written).
    private func addHostTerms(_ mine: Range<Int>, index: Int, o: Int, base: UnsafeMutablePointer<T>) {
        let L = locals.count
        guard L > 1 else { return }
        for q in 0..<L { terms[q] = q == localIndex ? base + mine.lowerBound : gatherScratch(index, o, from: q) }
        let target = base + mine.lowerBound
        for i in 0..<mine.count {
            var sum = terms[0][i]
            for q in 1..<L { sum += terms[q][i] }
            target[i] = sum
        }
    }

    private func isComplete(_ request: UnsafeMutablePointer<MPI_Request?>, _ index: Int) throws -> Bool {
        var done: Int32 = 0
        try MPIError.check(MPI_Test(request, &done, cmpi_status_ignore()), operation(index))
        return done != 0
    }

    /// Count 0 posts nothing: the peer's matching message is as empty.
    private func post(receive request: UnsafeMutablePointer<MPI_Request?>, into pointer: UnsafeMutablePointer<T>, count: Int,
                      from source: Int32, tag: Int32, _ index: Int) throws {
        guard count > 0 else { return }
        try MPIError.check(MPI_Irecv(pointer, Int32(count), T.mpiDatatype, source, tag, communicator.handle, request), operation(index))
    }

    private func post(send request: UnsafeMutablePointer<MPI_Request?>, from pointer: UnsafeMutablePointer<T>, count: Int,
                      to destination: Int32, tag: Int32, _ index: Int) throws {
        guard count > 0 else { return }
        try MPIError.check(MPI_Isend(pointer, Int32(count), T.mpiDatatype, destination, tag, communicator.handle, request),
                           operation(index))
    }

    private func operation(_ index: Int) -> String { "two-level allreduce of piece \(index)" }
}

extension TwoLevelAllreduce: PiecewiseAllreduce where T == Float {
    public func begin(round buffer: Buffer<Float>, pieces: [Range<Int>]) throws { try begin(buffer, pieces: pieces) }
}

/// How the two-level allreduces cut a piece and move it around the ring of hosts: C chunks
/// (chunk c = n·c/C ..< n·(c+1)/C), each cut into `hosts` sub-chunks, and what host `host` sends
/// right and receives from the left at each ring step (RingAllreduce's exchange, with hosts for
/// ranks): reduce-scatter, then allgather. TwoLevelAllreduce and HostLeaderAllreduce share it,
/// which is what makes their sums the same.
struct TwoLevelCut {
    let chunks: Int, hosts: Int, host: Int

    func chunk(_ c: Int, of range: Range<Int>) -> Range<Int> {
        range.lowerBound + range.count * c / chunks ..< range.lowerBound + range.count * (c + 1) / chunks
    }

    func sub(_ k: Int, of chunk: Range<Int>) -> Range<Int> {
        let i = ((k % hosts) + hosts) % hosts
        return chunk.lowerBound + chunk.count * i / hosts ..< chunk.lowerBound + chunk.count * (i + 1) / hosts
    }

    func exchange(of chunk: Range<Int>, step: Int) -> (send: Range<Int>, receive: Range<Int>, reduces: Bool) {
        if step < hosts - 1 { return (sub(host - step, of: chunk), sub(host - step - 1, of: chunk), true) }
        let s = step - (hosts - 1)
        return (sub(host + 1 - s, of: chunk), sub(host - s, of: chunk), false)
    }
}
