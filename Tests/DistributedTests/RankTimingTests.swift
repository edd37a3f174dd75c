import Distributed
import XCTest

final class RankTimingTests: XCTestCase {
    func testStragglerAndImbalance() {
        let timing = RankTiming.summarize(computeSeconds: [1.0, 1.0, 2.0, 1.0], allreduceSeconds: [1.1, 1.0, 0.1, 1.2])
        XCTAssertEqual(timing.slowestRank, 2)
        XCTAssertEqual(timing.maxComputeSeconds, 2.0)
        XCTAssertEqual(timing.meanComputeSeconds, 1.25)
        XCTAssertEqual(timing.imbalance, 1.6, accuracy: 1e-12)
        XCTAssertEqual(timing.minAllreduceSeconds, 0.1)
        XCTAssertEqual(timing.maxAllreduceSeconds, 1.2)
        XCTAssertEqual(timing.computeSeconds, [1.0, 1.0, 2.0, 1.0])
        XCTAssertEqual(timing.description,
                       "ranks: slowest 2 (compute 2.000 s, mean 1.250 s, imbalance 1.60); allreduce wait 0.100 s–1.200 s")
        XCTAssertEqual(timing.scalarMetrics["slowest_rank"], 2)
        XCTAssertEqual(timing.scalarMetrics["imbalance"] ?? 0, 1.6, accuracy: 1e-12)
        XCTAssertEqual(timing.metrics["rank_compute_s"] as? [Double], [1.0, 1.0, 2.0, 1.0])
        XCTAssertEqual(timing.tensorBoardMetrics["rank_2_compute_s"], 2.0)
        XCTAssertEqual(timing.tensorBoardMetrics["rank_3_allreduce_s"], 1.2)
        XCTAssertTrue(JSONSerialization.isValidJSONObject(timing.metrics))
    }

    func testBalancedSingleRankTieAndZero() {
        let one = RankTiming.summarize(computeSeconds: [0.5], allreduceSeconds: [0.001])
        XCTAssertEqual(one.slowestRank, 0)
        XCTAssertEqual(one.imbalance, 1)
        XCTAssertEqual(one.description, "ranks: slowest 0 (compute 0.500 s, mean 0.500 s, imbalance 1.00); allreduce wait 0.001 s")
        // A tie goes to the lowest rank.
        XCTAssertEqual(RankTiming.summarize(computeSeconds: [1, 3, 3], allreduceSeconds: [0, 0, 0]).slowestRank, 1)
        // Nothing timed: balanced, not NaN.
        let zero = RankTiming.summarize(computeSeconds: [0, 0], allreduceSeconds: [0, 0])
        XCTAssertEqual(zero.imbalance, 1)
        XCTAssertEqual(zero.slowestRank, 0)
    }

    func testPerRankScalarsAreCapped() {
        let many = RankTiming.summarize(computeSeconds: [Double](repeating: 1, count: RankTiming.perRankScalarLimit + 1),
                                        allreduceSeconds: [Double](repeating: 0, count: RankTiming.perRankScalarLimit + 1))
        XCTAssertNil(many.tensorBoardMetrics["rank_0_compute_s"])
        XCTAssertEqual((many.metrics["rank_compute_s"] as? [Double])?.count, RankTiming.perRankScalarLimit + 1)
    }
}
