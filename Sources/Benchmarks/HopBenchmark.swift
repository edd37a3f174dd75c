import Buffers
import Clock
import MPI

/// `rnn-dist bench --hops`: the latency of one hop of a ring, measured in the job's own layout
/// (the same ranks on the same hosts, every rank busy at once, as in an allreduce) with plain
/// MPI_Sendrecv rings — none of the allreduce code. The allreduce model of docs/multihost.md takes
/// its per-hop latencies from here: a link latency measured with one rank per host misses what
/// 12 ranks sharing 2 cores pay at every hop (waiting to be scheduled).
///
/// Four patterns, each rank sending a small message to its right neighbour while receiving from
/// its left one, every rank at once:
/// - world ring: ranks 0 → 1 → … → p−1 → 0, the flat ring allreduce's hop (host by host, so
///   the hops at host boundaries cross a link);
/// - host rings: the ranks of each host in a ring of their own, all hosts at once (shared memory);
/// - cross-host rings: the ranks with the same place on their host, one ring across the hosts per
///   place, all at once (the two-level allreduce's rings between owners);
/// - leader ring: the first rank of each host in one ring across the hosts while the others wait
///   (one message per link at a time, as in the levels of a tree between hosts).
public struct HopBenchmark {
    public struct Report: Codable, Sendable {
        public var ranks: Int
        public var hosts: Int
        public var topology: String
        public var messageBytes: Int
        public var exchangesPerRound: Int
        public var rounds: Int
        /// Per pattern, the median over rounds of the slowest rank's time per exchange (µs);
        /// a pattern with no ring of two or more ranks in this layout is absent.
        public var hopMicroseconds: [String: Double]

        enum CodingKeys: String, CodingKey {
            case ranks, hosts, topology, rounds
            case messageBytes = "message_bytes", exchangesPerRound = "exchanges_per_round", hopMicroseconds = "hop_us"
        }
    }

    public let world: Communicator
    public let topology: HostTopology
    public let elements: Int
    public let exchanges: Int
    public let rounds: Int

    /// 16 floats: a message whose bytes cost nothing next to its latency on any link.
    public init(world: Communicator, topology: HostTopology, elements: Int = 16, exchanges: Int = 100, rounds: Int = 7) {
        self.world = world
        self.topology = topology
        self.elements = elements
        self.exchanges = exchanges
        self.rounds = rounds
    }

    /// This rank's (right, left) neighbours in its ring of kind `ring`, or nil when that ring has one rank.
    public static func neighbours(of rank: Int, in ring: HostTopology.Ring, topology: HostTopology) -> (right: Int, left: Int)? {
        let members = topology.ring(ring, containing: rank)
        guard members.count > 1, let index = members.firstIndex(of: rank) else { return nil }
        return (members[(index + 1) % members.count], members[(index + members.count - 1) % members.count])
    }

    public func run() throws -> Report {
        let send = Buffer<Float>(count: elements, repeating: 1)
        let receive = Buffer<Float>(count: elements, repeating: 0)
        var perPattern: [HostTopology.Ring: [Double]] = [:]
        // Patterns interleaved round by round, so that a change in the machine's load reaches all.
        for round in 0...rounds {
            for pattern in HostTopology.Ring.allCases {
                let partners = Self.neighbours(of: world.rank, in: pattern, topology: topology)
                try world.barrier()
                let start = MonotonicClock.seconds()
                if let partners {
                    for _ in 0..<exchanges { try world.sendReceive(send, to: partners.right, receive, from: partners.left) }
                }
                let perExchange = partners == nil ? 0 : (MonotonicClock.seconds() - start) / Double(exchanges)
                let slowest = try world.allreduce(perExchange, op: .max)
                if round > 0 && slowest > 0 { perPattern[pattern, default: []].append(slowest) } // round 0 warms up
            }
        }
        var hops: [String: Double] = [:]
        for (pattern, times) in perPattern {
            hops[pattern.rawValue] = times.sorted()[times.count / 2] * 1e6
        }
        return Report(ranks: world.size, hosts: topology.hostCount, topology: topology.description,
                      messageBytes: elements * MemoryLayout<Float>.size, exchangesPerRound: exchanges, rounds: rounds,
                      hopMicroseconds: hops)
    }
}
