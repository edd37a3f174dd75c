import Buffers
import Foundation
import RNN
import RNNReference
import XCTest

/// The Float path uses a rational tanh approximation; bound its error through the public
/// API: with W_hh = 0 and b_h = 0 the stepper's hidden state is exactly tanh(W_xh[:, x]).
final class TanhAccuracyTests: XCTestCase {
    func testFloatTanhIsWithinAFewUlpOfTanh() {
        // x on a grid over [-12, 12] plus tiny and huge values; NaN must propagate.
        var xs = (0...4800).map { Float(-12 + Double($0) * 0.005) }
        xs += [1e-30, -1e-20, 1e-7, 3e-4, -5e-4, 0.01, 100, -1e30, .infinity, -.infinity]
        let shape = RNNShape(vocabularySize: 1, hiddenSize: xs.count)
        let layout = tanhLayout(shape)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        parameters.copy(from: xs, at: layout.range(of: .W_xh(layer: 0))!.lowerBound)   // V = 1: W_xh is a column
        let stepper = StackedStepper<Float>(architecture: ModelArchitecture(shape: shape))
        stepper.step(parameters: parameters, token: 0, temperature: 1, probabilities: Buffer(count: 1, repeating: 0))

        var worstAbsolute = 0.0, worstRelative = 0.0
        for (i, x) in xs.enumerated() {
            let exact = tanh(Double(x)), approximate = Double(stepper.state.h[i])
            worstAbsolute = max(worstAbsolute, abs(approximate - exact))
            worstRelative = max(worstRelative, abs(approximate - exact) / max(abs(exact), 1e-30))
            XCTAssertLessThanOrEqual(abs(approximate), 1, "x = \(x)")
        }
        print("Float tanh: max absolute error \(worstAbsolute), max relative error \(worstRelative)")
        XCTAssertLessThan(worstAbsolute, 1e-6)
        XCTAssertLessThan(worstRelative, 1e-6)

        parameters[layout.range(of: .W_xh(layer: 0))!.lowerBound] = .nan
        stepper.reset()
        stepper.step(parameters: parameters, token: 0, temperature: 1, probabilities: Buffer(count: 1, repeating: 0))
        XCTAssertTrue(stepper.state.h[0].isNaN)
    }
}
