import Buffers
import RNN
import XCTest

/// ‖dh_t‖ vanishes or explodes with the distance from the loss, at a rate set by the
/// spectral radius of W_hh (docs/design.md §2).
///
/// Set-up, so that the signal is exactly the geometric decay of the linearized recurrence:
/// - W_hh = s·P with P a signed cyclic permutation matrix: orthogonal, so every singular value
///   (and the spectral radius) is s, and ‖W_hh^T v‖ = s‖v‖ for every v.
/// - W_xh = 1e-10·random, b_h = 0: h_t stays below ~1e-4 even at s = 1.5 over T = 30, so tanh is
///   linear (1 - h² = 1 to ~1e-8) and da_t = dh_t.
/// - Loss only at the last step: W_hy has a single non-zero row 0 (u), b_y[0] = -30, and the
///   target is token 0 only at t = T-1. Then dH_out_t = u·dy_t[0] with dy_t[0] = p_t[0] ≈ 1e-13
///   for t < T-1, and ≈ -1 at T-1. So ‖dh_t‖ ≈ s^(T-1-t)·‖u‖/N.
final class GradientFlowTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 4, hiddenSize: 8)
    let T = 30, B = 2

    private func gradientFlow(spectralRadius s: Double) -> [Double] {
        let (parameters, inputs, targets) = gradientFlowModel(shape: shape, sequenceLength: T, batchSize: B, spectralRadius: s)
        let layout = ParameterLayout(shape: shape)
        let workspace = BPTTWorkspace<Double>(shape: shape, maxBatchSize: B, sequenceLength: T)
        let gradients = Buffer<Double>(count: layout.count, repeating: 0)
        _ = workspace.forwardBackward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(targets),
                                      batchSize: B, initialHidden: nil, tokenCountForMean: B * T, gradients: gradients)
        return workspace.gradientFlow
    }

    func testGradientVanishesWithSpectralRadiusHalf() {
        let flow = gradientFlow(spectralRadius: 0.5)
        XCTAssertEqual(flow.count, T)
        XCTAssertGreaterThan(flow[T - 1], 0)
        XCTAssertGreaterThanOrEqual(flow[T - 1] / flow[0], 100, "‖dh_0‖ must be orders of magnitude below ‖dh_T-1‖")
        for t in 0..<T - 1 {
            XCTAssertEqual(flow[t] / flow[t + 1], 0.5, accuracy: 1e-3, "step \(t)")
        }
    }

    func testGradientExplodesWithSpectralRadiusOneAndAHalf() {
        let flow = gradientFlow(spectralRadius: 1.5)
        XCTAssertGreaterThanOrEqual(flow[0] / flow[T - 1], 100)
        for t in 0..<T - 1 {
            XCTAssertEqual(flow[t] / flow[t + 1], 1.5, accuracy: 1e-3, "step \(t)")
        }
    }
}
