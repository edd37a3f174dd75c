// The two-level allreduce's summation order, written out independently of TwoLevelAllreduce
// (as RingOrder.swift does for the ring), on host groupings made up for the test: on one
// machine every rank shares one host, and the algorithm takes any grouping.
import Buffers
import MPI

/// Groupings of `ranks` ranks into hosts: pairs, alternating ranks (hosts that are not runs of
/// ranks), one rank alone and the rest together (unequal), and three hosts of unequal size.
func madeUpTopologies(ranks p: Int) -> [(name: String, topology: HostTopology)] {
    var made: [(String, HostTopology)] = [
        ("pairs", HostTopology(hostKey: (0..<p).map { $0 / 2 })),
        ("alternating", HostTopology(hostKey: (0..<p).map { $0 % 2 })),
        ("one-and-rest", HostTopology(hostKey: (0..<p).map { $0 == 0 ? 0 : 1 })),
        ("one-host", HostTopology.single(ranks: p)),
    ]
    if p >= 4 { made.append(("three-unequal", HostTopology(hostKey: (0..<p).map { $0 < p - 2 ? 0 : ($0 == p - 2 ? 1 : 2) }))) }
    return made
}

/// Element k of a piece: in chunk c of C (C = the most ranks on a host, chunk c = n·c/C ..<
/// n·(c+1)/C), in sub-chunk s of that chunk's `hosts` sub-chunks. Each host's term is its ranks'
/// values added in rank order; the host terms are added starting at host s: S_s + S_{s+1} + …
func twoLevelOrderSum<T: BinaryFloatingPoint>(_ k: Int, piece: Range<Int>, topology: HostTopology) -> T {
    let (C, H) = (topology.largestHost, topology.hostCount)
    let (start, n) = (piece.lowerBound, piece.count)
    let c = (0..<C).first { start + n * $0 / C <= k && k < start + n * ($0 + 1) / C }!
    let (chunkStart, m) = (start + n * c / C, n * (c + 1) / C - n * c / C)
    let s = (0..<H).first { chunkStart + m * $0 / H <= k && k < chunkStart + m * ($0 + 1) / H }!
    func hostSum(_ host: Int) -> T {
        let ranks = topology.ranksOnHost[host]
        var sum: T = ringInput(k, rank: ranks[0])
        for rank in ranks.dropFirst() { sum += ringInput(k, rank: rank) }
        return sum
    }
    var sum = hostSum(s)
    for step in 1..<H { sum += hostSum((s + step) % H) }
    return sum
}

/// Either two-level allreduce (one ring per local rank, or the hosts' leaders' ring), which
/// must give the same sums.
enum TwoLevelUnderTest<T: BinaryFloatingPoint & MPIScalar> {
    case rings(TwoLevelAllreduce<T>)
    case leaders(HostLeaderAllreduce<T>)

    init(_ stage: CrossHostStage, count: Int, world: Communicator, topology: HostTopology) {
        switch stage {
        case .ringPerLocalRank: self = .rings(TwoLevelAllreduce<T>(count: count, communicator: world, topology: topology))
        case .hostLeaders: self = .leaders(HostLeaderAllreduce<T>(count: count, communicator: world, topology: topology))
        }
    }
    func begin(_ buffer: Buffer<T>, pieces: [Range<Int>]) throws {
        switch self {
        case .rings(let a): try a.begin(buffer, pieces: pieces)
        case .leaders(let a): try a.begin(buffer, pieces: pieces)
        }
    }
    func ready(_ piece: Range<Int>) {
        switch self {
        case .rings(let a): a.ready(piece)
        case .leaders(let a): a.ready(piece)
        }
    }
    func readyAll() {
        switch self {
        case .rings(let a): a.readyAll()
        case .leaders(let a): a.readyAll()
        }
    }
    func progress() {
        switch self {
        case .rings(let a): a.progress()
        case .leaders(let a): a.progress()
        }
    }
    func finish() throws {
        switch self {
        case .rings(let a): try a.finish()
        case .leaders(let a): try a.finish()
        }
    }
    var traffic: AllreduceTraffic {
        switch self {
        case .rings(let a): a.traffic
        case .leaders(let a): a.traffic
        }
    }
}

/// Runs the two-level allreduce (cross-host stage `stage`) on every made-up grouping, whole and
/// in pieces (ready out of order of the buffer, progressed between), and compares every element
/// with `twoLevelOrderSum`, exactly. Returns what differs, and the cross-host hops the "pairs"
/// grouping counted (2(hosts − 1): on every rank for rings, on the leaders for leaders; the
/// most any rank counted).
func checkTwoLevelOrder<T: BinaryFloatingPoint & MPIScalar>(_ type: T.Type, world: Communicator, stage: CrossHostStage) throws
    -> (wrong: [String], pairsHops: Int) {
    var wrong: [String] = []
    var pairsHops = -1
    for (name, topology) in madeUpTopologies(ranks: world.size) {
        for count in [1, world.size - 1, world.size, 7, 1000, 12_345] where count > 0 {
            let twoLevel = TwoLevelUnderTest<T>(stage, count: count, world: world, topology: topology)
            let values = Buffer<T>((0..<count).map { ringInput($0, rank: world.rank) })
            try twoLevel.begin(values, pieces: [0..<count])
            twoLevel.readyAll()
            try twoLevel.finish()
            if name == "pairs" && count == 1000 {
                pairsHops = try world.allreduce(twoLevel.traffic.sequentialCrossHostHops, op: .max)
            }
            let pieces = ringPieces(count: count)
            let pieced = Buffer<T>((0..<count).map { ringInput($0, rank: world.rank) })
            try twoLevel.begin(pieced, pieces: pieces)
            for piece in pieces {
                twoLevel.ready(piece)
                twoLevel.progress()
            }
            try twoLevel.finish()
            for k in 0..<count {
                let expected: T = twoLevelOrderSum(k, piece: 0..<count, topology: topology)
                if values[k] != expected, wrong.count < 5 { wrong.append("\(name) count \(count) [\(k)]: \(values[k]) vs \(expected)") }
                let inPiece: T = twoLevelOrderSum(k, piece: pieces.first { $0.contains(k) }!, topology: topology)
                if pieced[k] != inPiece, wrong.count < 5 {
                    wrong.append("\(name) count \(count) in pieces [\(k)]: \(pieced[k]) vs \(inPiece)")
                }
            }
        }
    }
    return (wrong, pairsHops)
}
