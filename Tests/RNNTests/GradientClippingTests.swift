import Buffers
import RNN
import RNNReference
import XCTest

final class GradientClippingTests: XCTestCase {
    private func gradients(scale: Double) -> Buffer<Float> {
        Buffer(randomValues(count: 1003, seed: 71, scale: scale).map { Float($0) })
    }

    private func independentNorm(_ buffer: Buffer<Float>) -> Double {
        buffer.toArray().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    func testL2NormMatchesIndependentComputation() {
        let buffer = gradients(scale: 1)
        XCTAssertEqual(GradientClipping.l2Norm(buffer), independentNorm(buffer), accuracy: 1e-12 * independentNorm(buffer))
        XCTAssertEqual(GradientClipping.l2Norm(Buffer<Double>([3, 4])), 5)
    }

    func testClipAboveMaximumScalesToMaximum() {
        let buffer = gradients(scale: 1)
        let before = independentNorm(buffer)
        XCTAssertGreaterThan(before, 2)
        let returned = GradientClipping.clipByGlobalNorm(buffer, maxNorm: 2)
        XCTAssertEqual(returned, before, accuracy: 1e-12 * before, "returns the norm before clipping")
        XCTAssertEqual(independentNorm(buffer), 2, accuracy: 2e-6)
    }

    func testClipBelowMaximumLeavesGradientsBitForBit() {
        let buffer = gradients(scale: 0.01)
        let before = buffer.toArray()
        let norm = GradientClipping.clipByGlobalNorm(buffer, maxNorm: 10)
        XCTAssertEqual(norm, independentNorm(buffer), accuracy: 1e-12)
        XCTAssertEqual(buffer.toArray().map(\.bitPattern), before.map(\.bitPattern))
    }

    func testNonFiniteNormLeavesGradientsUntouched() {
        let buffer = Buffer<Float>([1, .nan, 2])
        XCTAssertTrue(GradientClipping.clipByGlobalNorm(buffer, maxNorm: 1).isNaN)
        XCTAssertEqual(buffer[0], 1)
        XCTAssertEqual(buffer[2], 2)
    }

    func testClipByValueClampsAndCounts() {
        let buffer = Buffer<Double>([-7, -5, -4.9, 0, 3, 5, 5.1, 100])
        let clipped = GradientClipping.clipByValue(buffer, limit: 5)
        XCTAssertEqual(clipped, 3)
        XCTAssertEqual(buffer.toArray(), [-5, -5, -4.9, 0, 3, 5, 5, 5])
    }
}
