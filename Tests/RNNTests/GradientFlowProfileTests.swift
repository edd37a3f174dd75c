import Buffers
import Foundation
import RNN
import XCTest

/// GradientFlowProfile: indexing by distance from the loss, averaging, the verdict and its
/// threshold; and, end to end, the constructed models of GradientFlowTests (W_hh = s·P in the
/// linear regime) diagnosed by the profile, the spectral radius and the Jacobian products.
final class GradientFlowProfileTests: XCTestCase {
    func testDistanceIndexingAndWeightedMean() {
        var profile = GradientFlowProfile(sequenceLength: 4)
        profile.add(gradientFlow: [4, 3, 2, 1], weight: 1)   // index t; distance d = 3 − t
        profile.add(gradientFlow: [8, 6, 4, 2], weight: 3)
        XCTAssertEqual(profile.batchCount, 2)
        XCTAssertEqual(profile.meanNorms, [1.75, 3.5, 5.25, 7])
    }

    func testGeometricDecayIsVanishing() {
        var profile = GradientFlowProfile(sequenceLength: 30)
        profile.add(gradientFlow: (0..<30).map { pow(10, -0.1 * Double(29 - $0)) })
        XCTAssertEqual(profile.log10SlopePerStep!, -0.1, accuracy: 1e-12)
        XCTAssertEqual(profile.decadesOverSequence!, -2.9, accuracy: 1e-12)
        XCTAssertEqual(profile.verdict, .vanishing)
        XCTAssertEqual(profile.verdictDescription, "vanishing: ‖dh‖ falls 10^2.90 over 29 steps (×0.794 per step)")
    }

    func testGrowthIsExplodingAndNonFiniteIsExploding() {
        var growing = GradientFlowProfile(sequenceLength: 11)
        growing.add(gradientFlow: (0..<11).map { pow(1.3, Double(10 - $0)) })   // 10^1.14 over 10 steps
        XCTAssertEqual(growing.verdict, .exploding)
        XCTAssertTrue(growing.verdictDescription.hasPrefix("exploding: ‖dh‖ grows 10^1.14 over 10 steps"),
                      growing.verdictDescription)

        var diverged = GradientFlowProfile(sequenceLength: 3)
        diverged.add(gradientFlow: [.nan, 1, 1])
        XCTAssertEqual(diverged.nonFiniteCount, 1)
        XCTAssertTrue(diverged.meanNorms[2].isNaN)
        XCTAssertEqual(diverged.verdict, .exploding)
    }

    func testThresholdIsOneDecade() {
        // Just inside the threshold: a factor 10^0.9 over the sequence is stable.
        var mild = GradientFlowProfile(sequenceLength: 10)
        mild.add(gradientFlow: (0..<10).map { pow(10, -0.1 * Double(9 - $0)) })
        XCTAssertEqual(mild.verdict, .stable)
        var steeper = GradientFlowProfile(sequenceLength: 10)
        steeper.add(gradientFlow: (0..<10).map { pow(10, -0.12 * Double(9 - $0)) })
        XCTAssertEqual(steeper.verdict, .vanishing)
        var flat = GradientFlowProfile(sequenceLength: 5)
        flat.add(gradientFlow: [1, 1.1, 0.9, 1, 1])
        XCTAssertEqual(flat.verdict, .stable)
        XCTAssertTrue(flat.verdictDescription.hasPrefix("stable"))
    }

    // MARK: - End to end on the GradientFlowTests construction

    private let shape = RNNShape(vocabularySize: 4, hiddenSize: 8)
    private let T = 30, B = 2

    private func model(spectralRadius s: Double) -> (parameters: Buffer<Double>, inputs: [Int32], targets: [Int32]) {
        gradientFlowModel(shape: shape, sequenceLength: T, batchSize: B, spectralRadius: s)
    }

    private func diagnose(spectralRadius s: Double) -> (GradientFlowProfile, Double, JacobianProductStatistics) {
        let (parameters, inputs, targets) = model(spectralRadius: s)
        let layout = ParameterLayout(shape: shape)
        let workspace = BPTTWorkspace<Double>(shape: shape, maxBatchSize: B, sequenceLength: T)
        let gradients = Buffer<Double>(count: layout.count, repeating: 0)
        var profile = GradientFlowProfile(sequenceLength: T)
        for _ in 0..<2 {
            _ = workspace.forwardBackward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(targets),
                                          batchSize: B, initialHidden: nil, tokenCountForMean: B * T, gradients: gradients)
            profile.add(workspace: workspace, batchSize: B)
        }
        let radius = SpectralAnalysis.spectralRadius(of: parameters, offset: layout.range(of: .W_hh).lowerBound,
                                                     size: shape.hiddenSize)
        let states = SpectralAnalysis.hiddenStates(parameters: parameters, layout: layout, inputs: inputs,
                                                   batchSize: B, sequenceLength: T)
        let jacobians = SpectralAnalysis.jacobianProductNorms(parameters: parameters, layout: layout,
                                                              hiddenStates: states, window: 10)
        return (profile, radius, jacobians)
    }

    func testDiagnosesVanishingModel() {
        let (profile, radius, jacobians) = diagnose(spectralRadius: 0.5)
        XCTAssertEqual(profile.batchCount, 2)
        XCTAssertEqual(profile.meanNorms[1] / profile.meanNorms[0], 0.5, accuracy: 1e-3)
        XCTAssertEqual(profile.log10SlopePerStep!, log10(0.5), accuracy: 1e-3)
        XCTAssertEqual(profile.verdict, .vanishing)
        XCTAssertEqual(radius, 0.5, accuracy: 0.5e-3)
        XCTAssertEqual(jacobians.perStepFactor, 0.5, accuracy: 0.5e-3)
        XCTAssertEqual(jacobians.windowCount, B * (T - 10 + 1))
    }

    func testDiagnosesExplodingAndStableModels() {
        let (exploding, radius, jacobians) = diagnose(spectralRadius: 1.5)
        XCTAssertEqual(exploding.verdict, .exploding)
        XCTAssertEqual(radius, 1.5, accuracy: 1.5e-3)
        XCTAssertEqual(jacobians.product, pow(1.5, 10), accuracy: pow(1.5, 10) * 1e-3)
        let (stable, unitRadius, _) = diagnose(spectralRadius: 1)
        XCTAssertEqual(stable.verdict, .stable, stable.verdictDescription)
        XCTAssertEqual(unitRadius, 1, accuracy: 1e-3)
    }
}
