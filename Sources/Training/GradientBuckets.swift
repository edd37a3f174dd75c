import Buffers
import MPI
import RNN

/// How the gradient is cut into the ring's pieces. The workspace names its buckets in the order
/// BPTT finishes them (the output layer's first, then W_hh's row blocks, …); each becomes a
/// piece reduced while the rest of BPTT runs. A small gradient is one piece, ready when all of
/// it is: every piece costs 2(p−1) message latencies, which a small model's step cannot hide,
/// while its whole gradient crosses even a 1 Gbit/s link in well under a millisecond (PyTorch
/// DDP's buckets make the same trade with their 25 MB cap, from the other side). A deep stack
/// with more buckets than the ring has room for merges neighbours that touch in memory (a
/// layer's W_hh blocks), the smallest pair first.
struct GradientBuckets {
    /// The ring's pieces, and for each the number of workspace buckets that make it ready.
    let pieces: [Range<Int>]
    let bucketsThroughPiece: [Int]

    /// Below this many elements (256 KB of Float) the gradient is one piece.
    static var minimumForPieces: Int { 65_536 }

    init(buckets: [Range<Int>], count: Int, maxPieces: Int) {
        if buckets.isEmpty {
            (pieces, bucketsThroughPiece) = ([], [])
            return
        }
        var pieces = buckets, through = Array(1...buckets.count)
        while pieces.count > maxPieces {
            let touching = pieces.indices.dropLast().filter { pieces[$0].upperBound == pieces[$0 + 1].lowerBound }
            guard let i = touching.min(by: { pieces[$0].count + pieces[$0 + 1].count < pieces[$1].count + pieces[$1 + 1].count })
            else { break }
            pieces[i] = pieces[i].lowerBound..<pieces[i + 1].upperBound
            pieces.remove(at: i + 1)
            through.remove(at: i)
        }
        if count < Self.minimumForPieces || pieces.count == 1 || pieces.count > maxPieces {
            (self.pieces, bucketsThroughPiece) = ([0..<count], [buckets.count])
        } else {
            (self.pieces, bucketsThroughPiece) = (pieces, through)
        }
    }
}

/// The backward pass's view of an overlapped allreduce: each finished piece is ready on the
/// ring at once, and every time step moves the ring on (MPI progresses only inside MPI calls).
final class OverlappedReduction: GradientReadiness {
    let ring: any PiecewiseAllreduce
    var buckets = GradientBuckets(buckets: [], count: 0, maxPieces: 1)
    /// This step's workspace buckets reported so far, and the pieces made ready.
    private var bucketsReady = 0
    private var piecesReady = 0

    init(ring: any PiecewiseAllreduce) { self.ring = ring }

    func begin(_ gradients: Buffer<Float>) throws {
        precondition(!buckets.pieces.isEmpty, "gradient buckets not prepared")
        (bucketsReady, piecesReady) = (0, 0)
        try ring.begin(round: gradients, pieces: buckets.pieces)
    }

    func gradientReady(_ range: Range<Int>) {
        bucketsReady += 1
        while piecesReady < buckets.pieces.count && buckets.bucketsThroughPiece[piecesReady] <= bucketsReady {
            ring.ready(buckets.pieces[piecesReady])
            piecesReady += 1
        }
        ring.progress()
    }

    func backwardProgress() { ring.progress() }
}
