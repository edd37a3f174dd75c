// Exercises every collective of the MPI module on real ranks and prints one line per check:
// "rank R check NAME ok" or "rank R check NAME FAILED: why". The MPI tests run it under
// mpirun -np 1, 2, 3 and 4 and read those lines.
import Buffers
import MPI
#if canImport(Glibc)
import Glibc
#endif

let world: Communicator
do {
    world = try Communicator.world
} catch {
    print("rank ? check init FAILED: \(error)")
    exit(1)
}
let rank = world.rank
let size = world.size
var failures = 0

func report(_ name: String, _ condition: Bool, _ detail: @autoclosure () -> String = "") {
    if condition {
        print("rank \(rank) check \(name) ok")
    } else {
        failures += 1
        print("rank \(rank) check \(name) FAILED: \(detail())")
    }
}

/// CPU time of the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

func run() throws {
    print("rank \(rank) of \(size)")
    let triangular = size * (size + 1) / 2

    // Sum, max and min in place on Float, Double and Int buffers.
    var floats: [Float] = [Float(rank + 1), -Float(rank), 0.5]
    try world.allreduce(&floats, op: .sum)
    report("allreduce-sum-float", floats == [Float(triangular), -Float(triangular - size), 0.5 * Float(size)], "\(floats)")

    let doubles = Buffer<Double>([Double(rank), Double(rank) * 2])
    try world.allreduce(doubles, op: .max)
    report("allreduce-max-double", doubles.toArray() == [Double(size - 1), Double(size - 1) * 2], "\(doubles.toArray())")

    var ints: [Int] = [rank + 10, -rank]
    try world.allreduce(&ints, op: .min)
    report("allreduce-min-int", ints == [10, -(size - 1)], "\(ints)")

    // A sub-range only: the rest must be untouched.
    let partial = Buffer<Float>(count: 6, repeating: 1)
    try world.allreduce(partial, range: 2..<4, op: .sum)
    report("allreduce-range", partial.toArray() == [1, 1, Float(size), Float(size), 1, 1], "\(partial.toArray())")

    // Broadcast from the last rank (non-zero root whenever size > 1).
    let root = size - 1
    var payload: [Double] = rank == root ? [3.25, -7, Double(root)] : [0, 0, 0]
    try world.broadcast(&payload, root: root)
    report("broadcast-nonzero-root", payload == [3.25, -7, Double(root)], "\(payload)")
    let text = try world.broadcast(string: rank == root ? "héllo from \(root)" : "", root: root)
    report("broadcast-string", text == "héllo from \(root)", text)

    // Non-blocking allreduce overlapped with local work.
    let big = Buffer<Float>(count: 1 << 20, repeating: Float(rank + 1))
    let request = try world.allreduceStarted(big, op: .sum)
    var localWork: Double = 0
    for index in 0..<200_000 { localWork += Double(index % 7) }
    try request.wait()
    let expected = Float(triangular)
    report("iallreduce-overlap", big[0] == expected && big[big.count - 1] == expected && localWork > 0 && request.isComplete,
           "\(big[0]) vs \(expected)")

    // The Int32-count splitting path, exercised with a tiny per-call limit.
    var limited = world
    limited.maxElementsPerCall = 3
    let split = Buffer<Int>((0..<10).map { $0 * (rank + 1) })
    try limited.allreduce(split, op: .sum)
    report("allreduce-split", split.toArray() == (0..<10).map { $0 * triangular }, "\(split.toArray())")
    let splitAsync = Buffer<Double>((0..<7).map { Double($0) })
    try limited.allreduceStarted(splitAsync, op: .max).wait()
    report("iallreduce-split", splitAsync.toArray() == (0..<7).map { Double($0) }, "\(splitAsync.toArray())")
    var splitBroadcast: [Int] = rank == 0 ? Array(0..<8) : Array(repeating: -1, count: 8)
    try limited.broadcast(&splitBroadcast, root: 0)
    report("broadcast-split", splitBroadcast == Array(0..<8), "\(splitBroadcast)")

    // The allocation-free ring allreduce: exact sums (small integers in Float) for sizes
    // below, at and above the rank count, and the same bits as MPI_Allreduce.
    var ringOK = true
    for count in [0, 1, size - 1, size, 7, 1000, 12_345] where count >= 0 {
        let ring = RingAllreduce<Float>(count: count, communicator: world)
        let values = Buffer<Float>((0..<count).map { Float(($0 % 13) * (rank + 1)) })
        try ring.sum(values)
        let expected = (0..<count).map { Float(($0 % 13) * triangular) }
        if values.toArray() != expected { ringOK = false }
    }
    report("ring-allreduce", ringOK)
    // Which neighbour an exchange waits for is recorded only while it waits.
    let idleRing = RingAllreduce<Float>(count: 100, communicator: world)
    try idleRing.sum(Buffer<Float>(count: 100, repeating: 1))
    report("ring-peer-idle", idleRing.wait.waitingOn == nil, "\(String(describing: idleRing.wait.waitingOn))")
    // A rank waiting for a peer that still computes gives its core back (IdleBackoff): the
    // last rank joins 300 ms late, and every other rank's ring waits that long on under a fifth
    // of a core. Polling in MPI_Wait used all of it (with 6 ranks on 2 cores, where OpenMPI
    // yields between polls, 0.3 of it: measured with the spin made 10 s long).
    if size > 1 {
        let lateRing = RingAllreduce<Float>(count: 1000, communicator: world)
        let late = Buffer<Float>(count: 1000, repeating: 1)
        try world.barrier()
        let (wallStart, cpuStart) = (Communicator.wallTime(), threadCPUSeconds())
        if rank == size - 1 { usleep(300_000) }
        try lateRing.sum(late)
        let (wall, cpu) = (Communicator.wallTime() - wallStart, threadCPUSeconds() - cpuStart)
        if rank != size - 1 {
            report("ring-wait-yields-core", wall >= 0.25 && cpu < 0.2 * wall && late.toArray().allSatisfy { $0 == Float(size) },
                   "\(cpu) s on a core during a \(wall) s wait")
        }
    }

    // Every rank's host, in rank order: this rank's own entry is what it sees locally.
    let hosts = try world.hosts()
    report("hosts", hosts.count == size && hosts[rank] == RankHost.local() && hosts.allSatisfy { !$0.name.isEmpty },
           "\(hosts)")

    // The same ring on non-integer data, bit for bit against its documented summation order
    // (RingOrder.swift); on 3+ ranks the data must also tell that order from rank order.
    for (name, check) in [("float", { try checkRingOrder(Float.self, world: world) }),
                          ("double", { try checkRingOrder(Double.self, world: world) })] {
        let (wrong, orderSensitive) = try check()
        report("ring-allreduce-order-\(name)", wrong.isEmpty && (size < 3 || orderSensitive > 0),
               "\(wrong.joined(separator: "; ")); order-sensitive elements: \(orderSensitive)")
        print("rank \(rank) ring-order-\(name) order-sensitive \(orderSensitive) of 1000")
    }

    // The two-level allreduce on made-up host groupings, bit for bit against its documented
    // order (TwoLevelOrder.swift), and its cross-host hops: 2(hosts − 1) per piece.
    // Both cross-host stages (one ring per local rank, the leaders' ring) give those same bits.
    for stage in CrossHostStage.allCases {
        for (name, check) in [("float", { try checkTwoLevelOrder(Float.self, world: world, stage: stage) }),
                              ("double", { try checkTwoLevelOrder(Double.self, world: world, stage: stage) })] {
            let (wrong, hops) = try check()
            let hosts = (size + 1) / 2
            let suffix = stage == .ringPerLocalRank ? "" : "-\(stage.rawValue)"
            report("two-level-order-\(name)\(suffix)", wrong.isEmpty && hops == 2 * (hosts - 1),
                   "\(wrong.joined(separator: "; ")); pairs: \(hops) cross-host hops, \(2 * (hosts - 1)) expected")
        }
    }
    // This machine is one host: MPI_COMM_TYPE_SHARED puts every rank on it.
    let discovered = try HostTopology.discover(world)
    report("host-topology", discovered == HostTopology.single(ranks: size) && AllreduceAlgorithm.automatic(for: discovered) == .ring,
           "\(discovered)")
    // The flat ring over pairs-of-ranks hosts: a rank whose right neighbour is on another host
    // waits for a cross-host hop at every one of the 2(p − 1) steps.
    let countedRing = RingAllreduce<Float>(count: 1000, communicator: world, topology: HostTopology(hostKey: (0..<size).map { $0 / 2 }))
    try countedRing.sum(Buffer<Float>(count: 1000, repeating: 1))
    let rightIsRemote = size > 1 && (rank + 1) % size / 2 != rank / 2
    report("ring-traffic", countedRing.traffic == AllreduceTraffic(crossHostMessages: rightIsRemote ? 2 * (size - 1) : 0,
                                                                     sequentialCrossHostHops: rightIsRemote ? 2 * (size - 1) : 0),
           "\(countedRing.traffic)")

    // The library's persistent allreduce: exact integer sums, whole and in pieces, twice over
    // the same pieces (the plan reused), then other pieces (the plan remade).
    var libraryOK = true
    for count in [1, size, 1000, 12_345] {
        let library = LibraryAllreduce<Float>(count: count, communicator: world)
        let values = Buffer<Float>(count: count, repeating: 0)
        for pieces in [[0..<count], ringPieces(count: count), ringPieces(count: count), [0..<count]] {
            for k in 0..<count { values[k] = Float((k % 13) * (rank + 1)) }
            try library.begin(values, pieces: pieces)
            for piece in pieces { library.ready(piece); library.progress() }
            try library.finish()
            if values.toArray() != (0..<count).map({ Float(($0 % 13) * triangular) }) { libraryOK = false }
        }
    }
    report("library-allreduce", libraryOK)

    // The allocation-free one-value allreduce (recursive doubling; on 3 ranks rank 0 hands
    // its value to rank 1, beyond the largest power of two). A non-integer sum must come out
    // with the same bits on every rank.
    let scalar = ScalarAllreduce<Int>(communicator: world)
    let (sum, largest, smallest) = (try scalar(rank + 1, op: .sum), try scalar(rank * 3, op: .max), try scalar(-rank, op: .min))
    let fraction = try ScalarAllreduce<Double>(communicator: world)(ringInput(rank, rank: rank), op: .sum)
    let fractionRange = (try world.allreduce(fraction, op: .min), try world.allreduce(fraction, op: .max))
    report("scalar-allreduce", sum == triangular && largest == 3 * (size - 1) && smallest == -(size - 1)
                && fractionRange.0.bitPattern == fractionRange.1.bitPattern,
           "sum \(sum), max \(largest), min \(smallest), Double sum from \(fractionRange.0) to \(fractionRange.1)")

    // Gather to root.
    let gathered = try world.gather([rank, rank * rank], root: 0)
    if rank == 0 {
        report("gather", gathered == (0..<size).flatMap { [$0, $0 * $0] }, "\(String(describing: gathered))")
    } else {
        report("gather", gathered == nil)
    }

    // An invalid root is MPI's error, returned (MPI_ERRORS_RETURN) and thrown as MPIError.
    var probe: [Int] = [0]
    do {
        try world.broadcast(&probe, root: size + 5)
        report("mpi-error-surfaces", false, "no error thrown")
    } catch let error as MPIError {
        report("mpi-error-surfaces", error.message.contains("root") || error.code != 0, error.description)
        print("rank \(rank) error-text \(error.description)")
    }

    try world.barrier()
    let before = Communicator.wallTime()
    usleep(20_000)
    let elapsed = Communicator.wallTime() - before
    report("wall-time", elapsed >= 0.015 && elapsed < 5, "\(elapsed) s for a 20 ms sleep")
}

do {
    try run()
} catch {
    print("rank \(rank) check unexpected-error FAILED: \(error)")
    failures += 1
}
print("rank \(rank) summary \(failures == 0 ? "ok" : "FAILED \(failures)")")
exit(failures == 0 ? 0 : 1)
