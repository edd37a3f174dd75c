import Buffers
import RNN
import RNNReference
import XCTest

/// Forward results other than the loss: h_T and the per-step probabilities, against the
/// naive reference and the single-sequence stepper used for sampling.
final class ForwardTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 7, hiddenSize: 10)
    let T = 8, B = 3

    func testFinalHiddenMatchesReference() {
        let H = shape.hiddenSize
        let parameters = randomParameters(Double.self, shape: shape, seed: 91, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 7, seed: 92)
        let targets = randomTokens(count: B * T, vocabularySize: 7, seed: 93)
        let h0 = randomValues(count: B * H, seed: 94, scale: 0.8)
        let reference = ReferenceRNN(parameters: parameters.toArray(), shape: shape)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        let gradients = Buffer<Double>(count: parameters.count, repeating: 0)

        for initial in [nil, h0] {
            let expected = reference.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T,
                                             initialHidden: initial.map { flat in (0..<B).map { Array(flat[$0 * H..<($0 + 1) * H]) } })
            for useBackward in [false, true] {
                workspace.finalHidden.fill(.nan)
                if useBackward {
                    _ = workspace.forwardBackward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(targets),
                                                  batchSize: B, initialHidden: initial.map { Buffer($0) },
                                                  tokenCountForMean: B * T, gradients: gradients)
                } else {
                    _ = workspace.forward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(targets),
                                          batchSize: B, initialHidden: initial.map { Buffer($0) })
                }
                for b in 0..<B {
                    for i in 0..<H {
                        XCTAssertEqual(workspace.finalHidden[b * H + i], expected.finalHidden[b][i], accuracy: 1e-13)
                    }
                }
            }
        }
    }

    func testStepperMatchesBatchedForward() {
        let parameters = randomParameters(Double.self, shape: shape, seed: 95, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 7, seed: 96)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        _ = workspace.forward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(inputs),
                              batchSize: B, initialHidden: nil)
        let stepper = StackedStepper<Double>(architecture: ModelArchitecture(shape: shape))
        let probabilities = Buffer<Double>(count: shape.vocabularySize, repeating: 0)
        for b in 0..<B {
            stepper.reset()
            for t in 0..<T {
                stepper.step(parameters: parameters, token: inputs[b * T + t], temperature: 1, probabilities: probabilities)
                let batched = workspace.probabilities(step: t, sequence: b)
                for j in 0..<shape.vocabularySize {
                    XCTAssertEqual(probabilities[j], batched[j], accuracy: 1e-14, "b \(b) t \(t) token \(j)")
                }
            }
            let H = shape.hiddenSize
            for i in 0..<H {   // gemm with 1 row vs B rows may round differently: not bit-exact
                XCTAssertEqual(stepper.state.h[i], workspace.finalHidden[b * H + i], accuracy: 1e-14)
            }
        }
    }

    func testStepperTemperatureSharpensDistribution() {
        let parameters = randomParameters(Float.self, shape: shape, seed: 97, scale: 0.5)
        let stepper = StackedStepper<Float>(architecture: ModelArchitecture(shape: shape))
        let warm = Buffer<Float>(count: shape.vocabularySize, repeating: 0)
        let cold = Buffer<Float>(count: shape.vocabularySize, repeating: 0)
        stepper.step(parameters: parameters, token: 2, temperature: 1, probabilities: warm)
        stepper.reset()
        stepper.step(parameters: parameters, token: 2, temperature: 0.25, probabilities: cold)
        XCTAssertEqual(warm.toArray().reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(cold.toArray().reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertGreaterThan(cold.toArray().max()!, warm.toArray().max()!)
    }
}
