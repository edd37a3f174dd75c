import Buffers
import Diagnostics
import Foundation
import RNN
import RNNReference
import XCTest

/// SpectralAnalysis.hiddenStates and jacobianProductNorms on constructed W_hh and hidden
/// states whose Jacobian norms are known in closed form.
final class JacobianProductTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 4, hiddenSize: 6)

    private func parameters(W_hh: [Double]) -> Buffer<Double> {
        let layout = tanhLayout(shape)
        let p = randomParameters(Double.self, shape: shape, seed: 21, scale: 0.3)
        p.copy(from: W_hh, at: layout.range(of: .W_hh(layer: 0))!.lowerBound)
        return p
    }

    func testOrthogonalTimesScaleInTheLinearRegime() {
        // W_hh = s·(signed permutation), h = 0 everywhere: J_k = s·Pᵀ, ‖J_k‖ = s exactly.
        let H = shape.hiddenSize, s = 0.7, T = 9, B = 3, window = 4
        var w = [Double](repeating: 0, count: H * H)
        for i in 0..<H { w[i * H + (i + 2) % H] = i.isMultiple(of: 2) ? s : -s }
        let states = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: H), count: T), count: B)
        for method in [JacobianProductStatistics.FactorNorm.spectral(iterations: 30), .upperBound] {
            let result = SpectralAnalysis.jacobianProductNorms(parameters: parameters(W_hh: w), layout: tanhLayout(shape),
                                                               hiddenStates: states, window: window, factorNorm: method)
            XCTAssertEqual(result.windowCount, B * (T - window + 1))
            XCTAssertEqual(result.perStepFactor, s, accuracy: 1e-9, "\(method)")
            XCTAssertEqual(result.product, pow(s, Double(window)), accuracy: 1e-9, "\(method)")
            XCTAssertEqual(result.meanLogProduct, Double(window) * log(s), accuracy: 1e-9)
        }
    }

    func testDiagonalWeightsWithSaturatedUnits() {
        // W_hh = diag(w): J_k = diag(w_i·(1 − h_{k,i}²)), so ‖J_k‖ = max_i |w_i|(1 − h_{k,i}²),
        // while the bound is max|w|·max(1 − h²). Unit 0 has the largest weight but saturates.
        let H = shape.hiddenSize
        let weights = [2.0, 0.9, -0.5, 0.3, 0.2, -0.1]
        var w = [Double](repeating: 0, count: H * H)
        for i in 0..<H { w[i * H + i] = weights[i] }
        let hs: [[Double]] = [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],    // 2·0.19 = 0.38 vs 0.9·0.99 = 0.891 → 0.891
            [0.3, 0.0, 0.0, 0.5, 0.0, 0.0],    // 2·0.91 = 1.82
            [0.99, 0.2, 0.0, 0.0, 0.0, 0.0],   // 2·0.0199 = 0.0398 vs 0.9·0.96 = 0.864 → 0.864
        ]
        let exact = [0.891, 1.82, 0.864]
        let layout = tanhLayout(shape)
        let spectral = SpectralAnalysis.jacobianProductNorms(parameters: parameters(W_hh: w), layout: layout,
                                                             hiddenStates: [hs], window: 2)
        let expectedMean = (log(exact[0]) + log(exact[1]) + log(exact[1]) + log(exact[2])) / 2
        XCTAssertEqual(spectral.windowCount, 2)
        XCTAssertEqual(spectral.meanLogProduct, expectedMean, accuracy: 1e-6)
        XCTAssertEqual(spectral.perStepFactor, exp(expectedMean / 2), accuracy: 1e-6)

        let bound = SpectralAnalysis.jacobianProductNorms(parameters: parameters(W_hh: w), layout: layout,
                                                          hiddenStates: [hs], window: 2, factorNorm: .upperBound)
        // max(1 − h²) = 1 at every step (units with h = 0): the bound is 2 per step.
        XCTAssertEqual(bound.perStepFactor, 2, accuracy: 1e-6)
        XCTAssertGreaterThan(bound.meanLogProduct, spectral.meanLogProduct + 0.9)   // 1.386 vs 0.468
    }

    func testSequencesShorterThanTheWindowAreSkipped() {
        let H = shape.hiddenSize
        let zero = [Double](repeating: 0, count: H)
        var w = [Double](repeating: 0, count: H * H)
        for i in 0..<H { w[i * H + i] = 0.5 }
        let layout = tanhLayout(shape)
        let result = SpectralAnalysis.jacobianProductNorms(parameters: parameters(W_hh: w), layout: layout,
                                                           hiddenStates: [[zero, zero], [zero, zero, zero, zero]], window: 3)
        XCTAssertEqual(result.windowCount, 2)
        XCTAssertEqual(result.perStepFactor, 0.5, accuracy: 1e-9)
        let none = SpectralAnalysis.jacobianProductNorms(parameters: parameters(W_hh: w), layout: layout,
                                                         hiddenStates: [[zero]], window: 3)
        XCTAssertEqual(none.windowCount, 0)
        XCTAssertTrue(none.meanLogProduct.isNaN)
    }

    func testHiddenStatesMatchTheStepper() {
        let shape = RNNShape(vocabularySize: 7, hiddenSize: 10)
        let H = shape.hiddenSize, T = 8, B = 3
        let parameters = randomParameters(Double.self, shape: shape, seed: 22, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 7, seed: 23)
        let h0 = randomValues(count: B * H, seed: 24, scale: 0.8)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        for initial in [nil, h0] {
            _ = workspace.forward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(inputs),
                                  batchSize: B, initialHidden: initial.map { Buffer($0) })
            let states = workspace.hiddenStates(layer: 0)
            XCTAssertEqual(states.count, B)
            for b in 0..<B {
                XCTAssertEqual(states[b].count, T)
                for i in 0..<H {
                    XCTAssertEqual(states[b][T - 1][i], workspace.finalHidden[b * H + i], accuracy: 1e-12)
                }
            }
            let stepper = StackedStepper<Double>(architecture: ModelArchitecture(shape: shape))
            let p = Buffer<Double>(count: 7, repeating: 0)
            if let initial { stepper.state.h.copy(from: initial[0..<H]) }
            for t in 0..<T {
                stepper.step(parameters: parameters, token: inputs[t], temperature: 1, probabilities: p)
                for i in 0..<H { XCTAssertEqual(states[0][t][i], stepper.state.h[i], accuracy: 1e-12, "t \(t)") }
            }
        }
    }
}
