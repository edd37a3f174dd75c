@testable import MPI
import XCTest

/// The two-level allreduce's cross-host stage: the faster by median, and what the header says.
final class CrossHostChoiceTests: XCTestCase {
    func testTheFasterMedianWinsAndATieKeepsRings() {
        // One slow outlier round of the leaders does not decide: medians 2.0 ms against 1.0 ms.
        let leaders = CrossHostChoice.choose(rings: [2e-3, 2.1e-3, 1.9e-3], leaders: [1e-3, 9e-3, 1e-3])
        XCTAssertEqual(leaders.stage, .hostLeaders)
        XCTAssertEqual(leaders.secondsRings, 2e-3)
        XCTAssertEqual(leaders.secondsLeaders, 1e-3)
        XCTAssertEqual(CrossHostChoice.choose(rings: [1e-3, 3e-3], leaders: [2e-3, 2.5e-3]).stage, .ringPerLocalRank,
                       "even counts: the mean of the middle two (2.0 against 2.25 ms)")
        XCTAssertEqual(CrossHostChoice.choose(rings: [1e-3], leaders: [1e-3]).stage, .ringPerLocalRank)
    }

    func testDescriptionNamesTheChoiceAndBothTimes() {
        XCTAssertEqual(CrossHostChoice.choose(rings: [0.91e-3], leaders: [0.6e-3]).description, "leaders (0.6 ms, rings 0.91 ms)")
        XCTAssertEqual(CrossHostChoice.choose(rings: [12.34e-3], leaders: [20e-3]).description, "rings (12.3 ms, leaders 20.0 ms)")
        XCTAssertEqual(CrossHostChoice(stage: .hostLeaders, secondsRings: nil, secondsLeaders: nil, untimedReason: "chosen").description,
                       "leaders (chosen)")
    }
}
