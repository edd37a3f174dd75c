import Buffers
import CMPI

/// The two-level allreduce with the host's first rank (its leader) doing the whole cross-host
/// stage: every rank sends its piece to the leader, the leader adds the host's values, the
/// leaders run ONE ring across the hosts, and each leader sends the result back. TwoLevelAllreduce
/// runs one ring per local rank instead, each carrying a C-th of the piece: the same bytes cross
/// a host's link either way, but here one message per hop crosses it instead of one per local
/// rank, and the shared-memory stages carry whole pieces to one rank. Which is faster depends on
/// the hosts (cores per rank, the network stack's cost per message): TwoLevelCrossHost.measure
/// times both.
///
/// The same sums as TwoLevelAllreduce, bit for bit: the piece is cut into the same C chunks and
/// each chunk into the same `hosts` sub-chunks; the leader adds the host's values in local rank
/// order, ((x₀ + x₁) + x₂) + …, and its ring step carries, packed into one message, the
/// sub-chunk of every chunk that the C rings would carry at that step, added in the same order.
/// So the choice between the two never changes a run's numbers.
///
/// Every receive of a round is posted when it begins (no message arrives unexpected, which
/// would make MPI allocate). A rank's receive of the result is posted over the piece it still
/// sends to the leader: the leader replies only after receiving that send.
public final class HostLeaderAllreduce<T: MPIScalar & AdditiveArithmetic>: @unchecked Sendable {
    public let count: Int
    public let topology: HostTopology
    private let communicator: Communicator
    public let wait: PeerWait
    public let maxPieces: Int

    /// This rank's host, its ranks (locals[0] leads), this rank's index among them; chunks per
    /// piece (the most ranks on one host, as TwoLevelAllreduce cuts them); hosts.
    private let host: Int, locals: [Int], localIndex: Int, chunks: Int, hosts: Int
    private var isLeader: Bool { localIndex == 0 }
    /// The leaders of the hosts before and after this one (the ring: receive left, send right).
    private let ringLeft: Int32, ringRight: Int32
    private let ringSteps: Int

    /// Requests per piece. A leader: gather receives (L−1), ring receives (ringSteps), the ring
    /// send, result sends (L−1). Any other rank: its gather send and its result receive.
    private let requestsPerPiece: Int
    private let requests: UnsafeMutablePointer<MPI_Request?>
    private let scratch: Buffer<T>
    private let terms: UnsafeMutablePointer<UnsafeMutablePointer<T>>

    private struct Piece {
        let range: Range<Int>
        let scratchOffset: Int
        /// Room for one packed ring message of the piece in scratch (packCapacity).
        let packCapacity: Int
        var isReady = false
        var gatherPosted = false
        /// 0 gathering, 1...ringSteps at ring step (stage − 1), ringSteps + 1 results being sent.
        var stage = 0
        var ringSendPosted = false
        var finished = false
    }

    private var buffer: Buffer<T>?
    private var pieces: [Piece]
    private var readyCount = 0
    private var firstUnfinished = 0
    private var failure: Error?
    public private(set) var elementsReducedBeforeFinish = 0
    public private(set) var traffic = AllreduceTraffic()
    public var observer: AllreduceObserver?

    public init(count: Int, communicator: Communicator, topology: HostTopology, maxPieces: Int = 64) {
        precondition(topology.rankCount == communicator.size, "a topology of \(topology.rankCount) ranks for \(communicator.size)")
        self.count = count
        self.communicator = communicator
        self.topology = topology
        self.maxPieces = maxPieces
        let r = communicator.rank
        let h = topology.hostOfRank[r]
        let hosts = topology.hostCount
        (host, localIndex, chunks, self.hosts) = (h, topology.localIndex(of: r), max(1, topology.largestHost), hosts)
        locals = topology.ranksOnHost[h]
        ringSteps = 2 * (hosts - 1)
        ringLeft = Int32(topology.ranksOnHost[(h - 1 + hosts) % hosts][0])
        ringRight = Int32(topology.ranksOnHost[(h + 1) % hosts][0])
        let L = locals.count
        let leads = topology.localIndex(of: r) == 0
        requestsPerPiece = leads ? 2 * (L - 1) + ringSteps + 1 : 2
        requests = .allocate(capacity: max(1, maxPieces * requestsPerPiece))
        requests.initialize(repeating: cmpi_request_null(), count: max(1, maxPieces * requestsPerPiece))
        // A piece of n needs (L−1)·n for the gathered values and (ringSteps + 1) packed messages,
        // each at most packCapacity(n) = C·⌈⌈n/C⌉/hosts⌉ ≤ n/hosts + 2C.
        let packRoom = (count + max(1, hosts) - 1) / max(1, hosts) + 2 * chunks * maxPieces
        scratch = Buffer(count: leads ? max(1, (L - 1) * count + (ringSteps + 1) * packRoom) : 1, repeating: .zero)
        terms = .allocate(capacity: max(1, L))
        wait = PeerWait()
        pieces = []
        pieces.reserveCapacity(maxPieces)
        precondition(Int(Self.tag(piece: maxPieces, phase: 0)) <= communicator.tagUpperBound,
                     "host-leader tags beyond this MPI's MPI_TAG_UB (\(communicator.tagUpperBound))")
        precondition(count <= Int(Int32.max), "host-leader piece beyond the Int32 count limit")
    }

    deinit {
        requests.deallocate()
        terms.deallocate()
    }

    // MARK: - Layout

    private func request(_ piece: Int, _ slot: Int) -> UnsafeMutablePointer<MPI_Request?> {
        requests + piece * requestsPerPiece + slot
    }
    /// Not a leader: the piece sent to the leader, the result received from it.
    private func gatherSend(_ piece: Int) -> UnsafeMutablePointer<MPI_Request?> { request(piece, 0) }
    private func resultReceive(_ piece: Int) -> UnsafeMutablePointer<MPI_Request?> { request(piece, 1) }
    /// A leader: from local rank q (1..<L), ring step receives, the ring send, the result to q.
    private func gatherReceive(_ piece: Int, from q: Int) -> UnsafeMutablePointer<MPI_Request?> { request(piece, q - 1) }
    private func ringReceive(_ piece: Int, step: Int) -> UnsafeMutablePointer<MPI_Request?> {
        request(piece, locals.count - 1 + step)
    }
    private func ringSend(_ piece: Int) -> UnsafeMutablePointer<MPI_Request?> { request(piece, locals.count - 1 + ringSteps) }
    private func resultSend(_ piece: Int, to q: Int) -> UnsafeMutablePointer<MPI_Request?> {
        request(piece, locals.count + ringSteps + q - 1)
    }

    private func gatherScratch(_ piece: Int, from q: Int) -> UnsafeMutablePointer<T> {
        let p = pieces[piece]
        return scratch.baseAddress + p.scratchOffset + (q - 1) * p.range.count
    }
    /// Packed ring messages: the one received at `step` (0..<ringSteps), and the one sent (ringSteps).
    private func packScratch(_ piece: Int, step: Int) -> UnsafeMutablePointer<T> {
        let p = pieces[piece]
        return scratch.baseAddress + p.scratchOffset + (locals.count - 1) * p.range.count + step * p.packCapacity
    }

    private static func tag(piece: Int, phase: Int) -> Int32 { Int32(5000 + piece * 3 + phase) }

    private var cut: TwoLevelCut { TwoLevelCut(chunks: chunks, hosts: hosts, host: host) }
    private func chunk(_ c: Int, of range: Range<Int>) -> Range<Int> { cut.chunk(c, of: range) }
    private func exchange(of chunk: Range<Int>, step: Int) -> (send: Range<Int>, receive: Range<Int>, reduces: Bool) {
        cut.exchange(of: chunk, step: step)
    }

    /// Elements a ring step of `range` receives: one sub-chunk of every chunk.
    private func packedCount(of range: Range<Int>, step: Int) -> Int {
        var n = 0
        for c in 0..<chunks { n += exchange(of: chunk(c, of: range), step: step).receive.count }
        return n
    }

    /// Room for any packed ring message of a piece of n: C sub-chunks of at most ⌈⌈n/C⌉/hosts⌉.
    private func packCapacity(_ n: Int) -> Int { chunks * (((n + chunks - 1) / chunks + hosts - 1) / hosts) }

    // MARK: - A round

    @_specialize(exported: true, where T == Float, Pieces == [Range<Int>])
    @_specialize(exported: true, where T == Double, Pieces == [Range<Int>])
    public func begin<Pieces: Collection<Range<Int>>>(_ buffer: Buffer<T>, pieces: Pieces) throws {
        precondition(buffer.count == count, "host-leader allreduce of \(count) elements given \(buffer.count)")
        precondition(self.buffer == nil, "a host-leader allreduce round is already in progress")
        precondition(pieces.count <= maxPieces, "\(pieces.count) pieces, \(maxPieces) prepared")
        self.buffer = buffer
        self.pieces.removeAll(keepingCapacity: true)
        (readyCount, firstUnfinished, failure) = (0, 0, nil)
        traffic = AllreduceTraffic(crossHostMessages: 0,
                                   sequentialCrossHostHops: !isLeader || pieces.isEmpty || communicator.size == 1 ? 0 : ringSteps)
        var covered = 0, scratchUsed = 0
        let L = locals.count
        for range in pieces {
            precondition(range.lowerBound >= 0 && range.upperBound <= count, "piece \(range) outside 0..<\(count)")
            let packCapacity = isLeader ? packCapacity(range.count) : 0
            self.pieces.append(Piece(range: range, scratchOffset: scratchUsed, packCapacity: packCapacity))
            if isLeader { scratchUsed += (L - 1) * range.count + (ringSteps + 1) * packCapacity }
            covered += range.count
        }
        precondition(covered == count, "pieces cover \(covered) of \(count) elements")
        precondition(scratchUsed <= scratch.count || scratchUsed == 0, "host-leader scratch too small")
        guard communicator.size > 1 else { return }
        let base = buffer.baseAddress
        for index in self.pieces.indices {
            let range = self.pieces[index].range
            if isLeader {
                for q in 1..<max(1, L) {
                    try post(receive: gatherReceive(index, from: q), into: gatherScratch(index, from: q), count: range.count,
                             from: Int32(locals[q]), tag: Self.tag(piece: index, phase: 0), index)
                }
                for step in 0..<ringSteps {
                    try post(receive: ringReceive(index, step: step), into: packScratch(index, step: step),
                             count: packedCount(of: range, step: step), from: ringLeft,
                             tag: Self.tag(piece: index, phase: 1), index)
                }
            } else {
                try post(receive: resultReceive(index), into: base + range.lowerBound, count: range.count, from: Int32(locals[0]),
                         tag: Self.tag(piece: index, phase: 2), index)
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
        precondition(buffer != nil, "readyAll outside a host-leader allreduce round")
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
            // Every rank's lowest unfinished piece has been started by the ranks it waits on;
            // this rank runs at most one exchange of it at a time, so it may sleep on it.
            if let (request, peer) = try drive(firstUnfinished) {
                try wait.wait(on: request, peer: peer, operation: operation(firstUnfinished))
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
        if !isLeader {
            if !pieces[index].gatherPosted {
                try post(send: gatherSend(index), from: base + range.lowerBound, count: range.count, to: Int32(locals[0]),
                         tag: Self.tag(piece: index, phase: 0), index)
                pieces[index].gatherPosted = true
            }
            if try !isComplete(resultReceive(index), index) { return (resultReceive(index), locals[0]) }
            if try !isComplete(gatherSend(index), index) { return (gatherSend(index), locals[0]) }
            pieces[index].finished = true
            observer?.pieceSummed(index, elements: range.count)
            return nil
        }
        let L = locals.count
        while true {
            let stage = pieces[index].stage
            if stage == 0 {
                for q in 1..<max(1, L) where try !isComplete(gatherReceive(index, from: q), index) {
                    return (gatherReceive(index, from: q), locals[q])
                }
                addHostTerms(range, index: index, base: base)
                pieces[index].stage = 1
            } else if stage <= ringSteps {
                let step = stage - 1
                if !pieces[index].ringSendPosted {
                    let packed = packScratch(index, step: ringSteps)
                    var n = 0
                    for c in 0..<chunks {
                        let send = exchange(of: chunk(c, of: range), step: step).send
                        for i in send { packed[n] = base[i]; n += 1 }
                    }
                    try post(send: ringSend(index), from: packed, count: n, to: ringRight, tag: Self.tag(piece: index, phase: 1), index)
                    if n > 0 { traffic.crossHostMessages += 1 }
                    pieces[index].ringSendPosted = true
                }
                if try !isComplete(ringReceive(index, step: step), index) { return (ringReceive(index, step: step), Int(ringLeft)) }
                if try !isComplete(ringSend(index), index) { return (ringSend(index), Int(ringRight)) }
                pieces[index].ringSendPosted = false
                let arriving = packScratch(index, step: step)
                var n = 0
                for c in 0..<chunks {
                    let (_, receive, reduces) = exchange(of: chunk(c, of: range), step: step)
                    if reduces {
                        for i in receive { base[i] += arriving[n]; n += 1 }
                    } else {
                        for i in receive { base[i] = arriving[n]; n += 1 }
                    }
                }
                pieces[index].stage += 1
            } else if stage == ringSteps + 1 {
                for q in 1..<max(1, L) {
                    try post(send: resultSend(index, to: q), from: base + range.lowerBound, count: range.count, to: Int32(locals[q]),
                             tag: Self.tag(piece: index, phase: 2), index)
                }
                pieces[index].stage += 1
            } else {
                for q in 1..<max(1, L) where try !isComplete(resultSend(index, to: q), index) {
                    return (resultSend(index, to: q), locals[q])
                }
                pieces[index].finished = true
                observer?.pieceSummed(index, elements: range.count)
                return nil
            }
        }
    }

    /// The host's sum in local rank order ((x₀ + x₁) + x₂) + … into the leader's buffer (its
    /// own values are x₀: each element's terms are all read before it is written).
    private func addHostTerms(_ range: Range<Int>, index: Int, base: UnsafeMutablePointer<T>) {
        let L = locals.count
        guard L > 1 else { return }
        terms[0] = base + range.lowerBound
        for q in 1..<L { terms[q] = gatherScratch(index, from: q) }
        let target = base + range.lowerBound
        for i in 0..<range.count {
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

    private func operation(_ index: Int) -> String { "host-leader allreduce of piece \(index)" }
}

extension HostLeaderAllreduce: PiecewiseAllreduce where T == Float {
    public func begin(round buffer: Buffer<Float>, pieces: [Range<Int>]) throws { try begin(buffer, pieces: pieces) }
}
