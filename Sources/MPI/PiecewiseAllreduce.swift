import Buffers

/// The gradient allreduce (a sum, in place) as the trainer drives it, whichever algorithm does
/// the work: a round over a buffer in pieces declared when it begins, each piece `ready` when
/// it is final on this rank (in declaration order), `progress()` while the caller computes, and
/// `finish` to block until every piece is summed. RingAllreduce (flat ring),
/// TwoLevelAllreduce and HostLeaderAllreduce (within hosts, then across them, the same sums) and
/// LibraryAllreduce (the MPI library's
/// own allreduce) implement it.
public protocol PiecewiseAllreduce: AnyObject {
    /// Elements of the buffer a round reduces.
    var count: Int { get }
    /// How many pieces a round may have.
    var maxPieces: Int { get }
    /// The peer an unfinished exchange is blocked on (for the watchdog's message), when known.
    var wait: PeerWait { get }
    /// Elements of the last round summed before `finish` began (overlapped with computation).
    var elementsReducedBeforeFinish: Int { get }
    /// What the last round sent across hosts from this rank.
    var traffic: AllreduceTraffic { get }
    /// Told when each piece starts and when it is summed on this rank (nil: nobody watches).
    var observer: AllreduceObserver? { get set }
    /// Starts a round over `buffer` in `pieces` (covering it exactly once, the same on every rank).
    func begin(round buffer: Buffer<Float>, pieces: [Range<Int>]) throws
    /// The next declared piece is final on this rank.
    func ready(_ range: Range<Int>)
    /// Moves ready pieces on without blocking (an error is kept for `finish`).
    func progress()
    /// Every piece not yet ready is.
    func readyAll()
    /// Blocks until every piece is summed, calling `whileWaiting` for small pieces of useful
    /// work while it would wait (until it returns false).
    func finish(whileWaiting: () -> Bool) throws
}

/// Told when each piece of a round starts (is handed to the algorithm: `ready`) and when its
/// sum is final on this rank: what a timeline draws as a bucket's reduction. Called on the
/// thread that drives the allreduce, at most once per piece and event; must not allocate.
public protocol AllreduceObserver: AnyObject {
    func pieceStarted(_ index: Int, elements: Int)
    func pieceSummed(_ index: Int, elements: Int)
}

extension PiecewiseAllreduce {
    /// Sums `buffer` across the ranks as one piece.
    public func sum(_ buffer: Buffer<Float>) throws {
        try begin(round: buffer, pieces: [0..<count])
        readyAll()
        try finish(whileWaiting: { false })
    }
}

/// Messages of one round that left this rank for another host, and the longest chain of
/// cross-host exchanges in it that had to happen one after another (the round's latency is that
/// many network hops at least). Summed (messages) and maximized (hops) over the ranks, they are
/// the round's cross-host traffic.
public struct AllreduceTraffic: Sendable, Equatable {
    public var crossHostMessages = 0
    public var sequentialCrossHostHops = 0

    public init(crossHostMessages: Int = 0, sequentialCrossHostHops: Int = 0) {
        self.crossHostMessages = crossHostMessages
        self.sequentialCrossHostHops = sequentialCrossHostHops
    }
}

/// Which algorithm reduces the gradient (docs/multihost.md: when to pick which).
public enum AllreduceAlgorithm: String, Sendable, CaseIterable {
    /// One ring over all ranks: 2(p−1) steps, each as slow as the slowest link.
    case ring
    /// Within each host, then across hosts (2(hosts−1) cross-host steps: one ring per local rank
    /// or one ring of the hosts' leaders, whichever CrossHostChoice timed faster), then back.
    case twoLevel = "two-level"
    /// The MPI library's persistent allreduce, one per piece (its algorithm, its sum order).
    case library = "mpi"

    /// The default for a topology: two-level when ranks share hosts and there are at least two
    /// hosts (it saves cross-host latency there, and is the ring elsewhere), else the ring.
    public static func automatic(for topology: HostTopology) -> AllreduceAlgorithm {
        topology.hostCount >= 2 && topology.sharesHosts ? .twoLevel : .ring
    }

    /// This algorithm over `count` Float elements of `world`, its scratch allocated now; for
    /// two-level, with the cross-host stage `crossHost` chose (CrossHostChoice.measure).
    public func make(count: Int, world: Communicator, topology: HostTopology, crossHost: CrossHostStage = .ringPerLocalRank,
                     maxPieces: Int = 64) -> any PiecewiseAllreduce {
        switch (self, crossHost) {
        case (.ring, _): return RingAllreduce<Float>(count: count, communicator: world, maxPieces: maxPieces, topology: topology)
        case (.twoLevel, .ringPerLocalRank):
            return TwoLevelAllreduce<Float>(count: count, communicator: world, topology: topology, maxPieces: maxPieces)
        case (.twoLevel, .hostLeaders):
            return HostLeaderAllreduce<Float>(count: count, communicator: world, topology: topology, maxPieces: maxPieces)
        case (.library, _): return LibraryAllreduce<Float>(count: count, communicator: world, maxPieces: maxPieces)
        }
    }
}
