// The ring allreduce's summation order, written out independently of RingAllreduce so that
// the selftest can demand the same bits: a changed order or a lost chunk fails the check.
import Buffers
import MPI

/// What rank `rank` contributes at index k: non-integers whose magnitude grows with the rank
/// (0.1·(k+1) + 1e-7·rank, times rank + 1), so that rounding depends on the order of additions.
func ringInput<T: BinaryFloatingPoint>(_ k: Int, rank: Int) -> T {
    T((0.1 * Double(k + 1) + 1e-7 * Double(rank)) * Double(1 + rank))
}

/// The ring's order. The piece holding k (the whole buffer, or one of `ringPieces`) of n
/// elements is cut into p chunks, chunk i = n·i/p ..< n·(i+1)/p of it. In the reduce-scatter,
/// chunk c leaves rank c, and each rank to the right adds its own value to the partial sum
/// that arrives, so element k of chunk c becomes ((x_c + x_{c+1}) + x_{c+2}) + … + x_{c+p−1}
/// (ranks mod p); the allgather only copies it.
func ringOrderSum<T: BinaryFloatingPoint>(_ k: Int, piece: Range<Int>, ranks p: Int) -> T {
    let (start, n) = (piece.lowerBound, piece.count)
    let chunk = (0..<p).first { start + n * $0 / p <= k && k < start + n * ($0 + 1) / p }!
    var sum: T = ringInput(k, rank: chunk)
    for step in 1..<p { sum += ringInput(k, rank: (chunk + step) % p) }
    return sum
}

/// Rank 0 first, then 1, 2, …: what a naive reduction would give (to show that the data can
/// tell the orders apart).
func rankOrderSum<T: BinaryFloatingPoint>(_ k: Int, ranks p: Int) -> T {
    var sum: T = ringInput(k, rank: 0)
    for rank in 1..<p { sum += ringInput(k, rank: rank) }
    return sum
}

/// Runs the ring on `ringInput` data of several sizes (below, at and above the rank count,
/// uneven chunks) and compares every element with `ringOrderSum`, exactly. Returns the
/// elements that differ, and how many elements of the 1000-element case a rank-order sum
/// would get wrong (0 on one or two ranks, where a + b == b + a; > 0 on three or more).
func checkRingOrder<T: BinaryFloatingPoint & MPIScalar>(_ type: T.Type, world: Communicator) throws
    -> (wrong: [String], orderSensitive: Int) {
    let p = world.size
    var wrong: [String] = []
    var orderSensitive = 0
    for count in [1, p - 1, p, 7, 1000, 12_345] where count > 0 {
        let ring = RingAllreduce<T>(count: count, communicator: world)
        let values = Buffer<T>((0..<count).map { ringInput($0, rank: world.rank) })
        try ring.sum(values)
        // In pieces (overlap with BPTT): cut at uneven points, ready out of buffer order,
        // with non-blocking progress between them — each piece in its own ring order.
        let pieced = Buffer<T>((0..<count).map { ringInput($0, rank: world.rank) })
        try ring.begin(pieced, pieces: ringPieces(count: count))
        for piece in ringPieces(count: count) {
            ring.ready(piece)
            ring.progress()
        }
        try ring.finish()
        let pieces = ringPieces(count: count)
        for k in 0..<count {
            let expected: T = ringOrderSum(k, piece: 0..<count, ranks: p)
            if values[k] != expected, wrong.count < 5 { wrong.append("count \(count) [\(k)]: \(values[k]) vs \(expected)") }
            let inPiece: T = ringOrderSum(k, piece: pieces.first { $0.contains(k) }!, ranks: p)
            if pieced[k] != inPiece, wrong.count < 5 {
                wrong.append("count \(count) in pieces [\(k)]: \(pieced[k]) vs \(inPiece)")
            }
            if count == 1000, expected != rankOrderSum(k, ranks: p) as T { orderSensitive += 1 }
        }
    }
    return (wrong, orderSensitive)
}

/// 0..<count cut at uneven points (some pieces inside one chunk, some across several, one
/// empty), the last half first: how the backward pass hands buckets to the ring.
func ringPieces(count: Int) -> [Range<Int>] {
    let cuts = Array(Set([0, count / 7, count / 7, count / 3, count / 3 + 1, count / 2, count])).sorted()
    var pieces = zip(cuts, cuts.dropFirst()).map { $0..<$1 }
    pieces.append(count..<count)
    let half = pieces.count / 2
    return Array(pieces[half...] + pieces[..<half])
}
