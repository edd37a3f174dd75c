import Buffers
import RNN
import RNNReference
import XCTest

/// Sampling's one-step forward for every cell against the batched forward, and for the
/// one-layer tanh RNN against the naive reference.
final class StackedStepperTests: XCTestCase {
    func testStepsMatchTheBatchedForward() {
        for cell in CellKind.allCases {
            let c = StackedCase(cell, layers: 2, H: 5, V: 7, B: 1, T: 6, initialState: false, seed: 150)
            let workspace = c.workspace()
            _ = workspace.forward(parameters: c.parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets),
                                  batchSize: 1, initialState: nil)
            let stepper = StackedStepper<Double>(architecture: c.architecture)
            let probabilities = Buffer<Double>(count: 7, repeating: 0)
            let sharper = Buffer<Double>(count: 7, repeating: 0)
            for t in 0..<c.T {
                let copy = RecurrentState<Double>(architecture: c.architecture, capacity: 1)
                copy.copy(from: stepper.state, rows: 1)
                stepper.step(parameters: c.parameters, token: c.inputs[t], temperature: 1, probabilities: probabilities)
                let expected = workspace.probabilities(step: t, sequence: 0)
                XCTAssertLessThan(normwiseRelativeError(probabilities.toArray(), expected), 1e-14, "\(cell) t=\(t)")
                // Temperature 0.5 from the same state: p ∝ p(T=1)².
                stepper.state.copy(from: copy, rows: 1)
                stepper.step(parameters: c.parameters, token: c.inputs[t], temperature: 0.5, probabilities: sharper)
                let squares = expected.map { $0 * $0 }, total = squares.reduce(0, +)
                XCTAssertLessThan(normwiseRelativeError(sharper.toArray(), squares.map { $0 / total }), 1e-13, "\(cell) t=\(t)")
            }
            stepper.reset()
            XCTAssertTrue(stepper.state.h.toArray().allSatisfy { $0 == 0 })
        }
    }

    /// The one-layer tanh RNN (no b_hh) against the naive reference's probabilities.
    func testLegacyTanhRNNMatchesTheReference() {
        let shape = RNNShape(vocabularySize: 6, hiddenSize: 8), T = 10
        let parameters = randomParameters(Double.self, shape: shape, seed: 160, scale: 0.6)
        let tokens = randomTokens(count: T, vocabularySize: 6, seed: 161)
        let expected = ReferenceRNN(parameters: parameters.toArray(), shape: shape)
            .forward(inputs: tokens, targets: tokens, batchSize: 1, sequenceLength: T).probabilities[0]
        let stepper = StackedStepper<Double>(architecture: ModelArchitecture(shape: shape))
        let p = Buffer<Double>(count: 6, repeating: 0)
        for t in 0..<T {
            stepper.step(parameters: parameters, token: tokens[t], temperature: 1, probabilities: p)
            XCTAssertLessThan(normwiseRelativeError(p.toArray(), expected[t]), 1e-13, "t=\(t)")
        }
    }
}
