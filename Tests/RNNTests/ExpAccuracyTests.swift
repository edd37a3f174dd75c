import Foundation
@testable import RNN
import XCTest

/// The Float softmax uses a polynomial exp (RNNKernels.expApproximation); bound its error
/// against Double's exp where the softmax uses it (x ≤ 0) and beyond.
final class ExpAccuracyTests: XCTestCase {
    func testFloatExpIsWithinAFewUlpOfExp() {
        var xs = (0...20000).map { Float(-87 + Double($0) * 0.00875) }   // [-87, 88], step 0.00875
        xs += [0, -0.0, 1e-30, -1e-20, 1e-7, -3e-4, 0.5, -0.5, 0.34657359, -0.34657359, 88.3]
        var worst = 0.0
        for x in xs {
            let exact = exp(Double(x)), approximate = Double(RNNKernels.expApproximation(x))
            let relative = abs(approximate - exact) / exact
            worst = max(worst, relative)
            XCTAssertLessThan(relative, 1.5e-7, "x = \(x)")
        }
        print("Float exp: max relative error \(worst) on [-87, 88]")
        // Below the clamp: a tiny positive stand-in, never 0 or negative; NaN stays NaN.
        for x: Float in [-88, -100, -1e30, -.infinity] {
            let value = RNNKernels.expApproximation(x)
            XCTAssertGreaterThan(value, 0)
            XCTAssertLessThan(value, 2e-38)
        }
        XCTAssertTrue(RNNKernels.expApproximation(.nan).isNaN)
        XCTAssertTrue(RNNKernels.expApproximation(.infinity).isFinite)
    }
}
