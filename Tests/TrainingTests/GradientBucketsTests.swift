import RNN
@testable import Training
import XCTest

/// How the workspace's buckets become the ring's pieces (GradientBuckets).
final class GradientBucketsTests: XCTestCase {
    /// Below 65,536 elements: one piece, ready with the last bucket.
    func testASmallGradientIsOnePiece() {
        let plan = GradientBuckets(buckets: [10..<20, 0..<10, 20..<30], count: 30, maxPieces: 64)
        XCTAssertEqual(plan.pieces, [0..<30])
        XCTAssertEqual(plan.bucketsThroughPiece, [3])
    }

    /// Above it: each bucket a piece, ready as soon as it is.
    func testALargeGradientIsReducedBucketByBucket() {
        let n = 100_000
        let buckets = [90_000..<n, 0..<45_000, 45_000..<90_000]
        let plan = GradientBuckets(buckets: buckets, count: n, maxPieces: 64)
        XCTAssertEqual(plan.pieces, buckets)
        XCTAssertEqual(plan.bucketsThroughPiece, [1, 2, 3])
    }

    /// More buckets than the ring holds: neighbours that touch in memory merge, smallest pair
    /// first; a merged piece is ready when its last bucket is. None touching: one piece.
    func testTooManyBucketsMergeNeighboursThatTouch() {
        let n = 100_000
        let buckets = [90_000..<n, 0..<20_000, 20_000..<30_000, 30_000..<35_000, 35_000..<90_000]
        let plan = GradientBuckets(buckets: buckets, count: n, maxPieces: 3)
        XCTAssertEqual(plan.pieces, [90_000..<n, 0..<35_000, 35_000..<90_000])
        XCTAssertEqual(plan.bucketsThroughPiece, [1, 4, 5])
        let apart = GradientBuckets(buckets: [50_000..<n, 0..<50_000], count: n, maxPieces: 1)
        XCTAssertEqual(apart.pieces, [0..<n])
        XCTAssertEqual(apart.bucketsThroughPiece, [2])
    }

    /// A 4-layer LSTM at H=512 has 1 + 4·(16 + 2) = 73 buckets: it fits the ring's 64 pieces.
    func testADeepStackFitsTheRing() {
        let architecture = ModelArchitecture(cell: .lstm, layers: 4, hiddenSize: 512, vocabularySize: 65)
        let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: 1, sequenceLength: 1)
        let count = ModelLayout(architecture: architecture).count
        XCTAssertEqual(workspace.gradientBuckets.count, 73)
        let plan = GradientBuckets(buckets: workspace.gradientBuckets, count: count, maxPieces: 64)
        XCTAssertEqual(plan.pieces.count, 64)
        XCTAssertEqual(plan.pieces.map(\.count).reduce(0, +), count)
        XCTAssertEqual(plan.bucketsThroughPiece.last, 73)
    }
}
