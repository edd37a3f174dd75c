import Buffers
import RNN
import RNNReference
import XCTest

/// gradientSurvival on models whose answer is known in closed form.
final class GradientSurvivalTests: XCTestCase {
    /// GradientFlowTests' construction: h ≈ 0 (tiny W_xh), so ∂h_t/∂h_{t−1} = (1 − h²)W_hh ≈
    /// s × a signed permutation, which scales every vector by exactly s: the survival at
    /// distance k is s^k (to ~1e-12, the size of h²).
    func testTanhRNNSurvivalIsSpectralRadiusToTheK() {
        let shape = RNNShape(vocabularySize: 5, hiddenSize: 6), T = 12, B = 2
        for s in [0.8, 1.15] {
            let model = gradientFlowModel(shape: shape, sequenceLength: T, batchSize: B, spectralRadius: s)
            let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B,
                                                         sequenceLength: T)
            let survival = workspace.gradientSurvival(parameters: model.parameters, inputs: Buffer(model.inputs),
                                                      targets: Buffer(model.targets), batchSize: B, initialState: nil)
            XCTAssertNil(survival.cell)
            XCTAssertEqual(survival.samples[0], (0..<T).map { B * (T - $0) })
            for k in 0..<T {
                XCTAssertEqual(survival.hidden[0][k], pow(s, Double(k)), accuracy: 1e-9 * pow(s, Double(k)), "s=\(s) k=\(k)")
            }
        }
    }

    /// lossSteps = 3 of T = 12 averages t = 12, 8, 4 only: each k is measured by the chosen t
    /// beyond it (3, 2, 1 of them), and on this model every t gives s^k.
    func testLossStepsSubsampleTheLossesCountingDownFromT() {
        let shape = RNNShape(vocabularySize: 5, hiddenSize: 6), T = 12, B = 2, s = 0.8
        let model = gradientFlowModel(shape: shape, sequenceLength: T, batchSize: B, spectralRadius: s)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B,
                                                     sequenceLength: T)
        let survival = workspace.gradientSurvival(parameters: model.parameters, inputs: Buffer(model.inputs),
                                                  targets: Buffer(model.targets), batchSize: B, initialState: nil, lossSteps: 3)
        XCTAssertEqual(survival.samples[0], (0..<T).map { k in B * [12, 8, 4].filter { $0 - 1 >= k }.count })
        for k in 0..<T {
            XCTAssertEqual(survival.hidden[0][k], pow(s, Double(k)), accuracy: 1e-9 * pow(s, Double(k)), "k=\(k)")
        }
        let every = workspace.gradientSurvival(parameters: model.parameters, inputs: Buffer(model.inputs),
                                               targets: Buffer(model.targets), batchSize: B, initialState: nil, lossSteps: T)
        XCTAssertEqual(every.samples[0], (0..<T).map { B * (T - $0) }, "lossSteps = T is every step")
    }

    /// An lstm with W_hh = 0: h_{t−1} reaches L_t only through c, so the survival through h is
    /// exactly 0 beyond k = 0; through c it is Π f ≈ 1 with the forget gate open (b_f = +20)
    /// and ≈ 0 with it shut (b_f = −20).
    func testLSTMCellStateCarriesTheGradientWhileTheForgetGateIsOpen() {
        for forgetBias in [20.0, -20.0] {
            let survival = survivalWithoutRecurrentWeights(.lstm, gateBias: (block: 1, value: forgetBias))
            let c = survival.cell![0]
            XCTAssertEqual(survival.hidden[0][0], 1)
            XCTAssertEqual(c[0], 1)
            for k in 1..<c.count {
                XCTAssertEqual(survival.hidden[0][k], 0, "k=\(k)")
                if forgetBias > 0 { XCTAssertEqual(c[k], 1, accuracy: 1e-6, "k=\(k)") } else { XCTAssertLessThan(c[k], 1e-8, "k=\(k)") }
            }
        }
    }

    /// A gru with W_hh = 0: h' = (1 − z)⊙n + z⊙h, so the survival is Π z ≈ 1 with the update
    /// gate shut (b_z = +20, h is copied) and ≈ 0 with it open (b_z = −20).
    func testGRUUpdateGateCarriesTheGradientWhenShut() {
        for updateBias in [20.0, -20.0] {
            let h = survivalWithoutRecurrentWeights(.gru, gateBias: (block: 1, value: updateBias)).hidden[0]
            XCTAssertEqual(h[0], 1)
            for k in 1..<h.count {
                if updateBias > 0 { XCTAssertEqual(h[k], 1, accuracy: 1e-6, "k=\(k)") } else { XCTAssertLessThan(h[k], 1e-8, "k=\(k)") }
            }
        }
    }

    /// Random two-layer models: the survival equals its definition evaluated by central finite
    /// differences of the reference's L_t (that step's loss alone) in h_{t−k} (and c_{t−k}) of
    /// each layer, for every t, k and sequence. Bound 1e-6 relative.
    func testSurvivalMatchesFiniteDifferencesOfSingleStepLosses() {
        for cell in CellKind.allCases {
            let c = StackedCase(cell, layers: 2, H: 3, V: 5, B: 2, T: 4, seed: 130, scale: 0.8)
            let L = 2, H = 3, T = 4
            let survival = c.workspace().gradientSurvival(parameters: c.parameters, inputs: Buffer(c.inputs),
                                                          targets: Buffer(c.targets), batchSize: c.B, initialState: c.initialState())
            let reference = ReferenceStackedRNN(architecture: c.architecture, parameters: c.parameters.toArray())
            func norm(l: Int, s: Int, t: Int, b: Int, cellState: Bool) -> Double {
                let eps = 1e-6
                var squares = 0.0
                for unit in 0..<H {
                    func loss(_ delta: Double) -> Double {
                        reference.run(inputs: c.inputs, targets: c.targets, batchSize: c.B, sequenceLength: T, h0: c.h0, c0: c.c0,
                                      tokenCount: 1, nudge: .init(layer: l, t: s, b: b, unit: unit, delta: delta, cellState: cellState),
                                      lossStep: t).loss
                    }
                    let g = (loss(eps) - loss(-eps)) / (2 * eps)
                    squares += g * g
                }
                return squares.squareRoot()
            }
            for cellState in cell == .lstm ? [false, true] : [false] {
                var sums = [[Double]](repeating: [Double](repeating: 0, count: T), count: L)
                var counts = sums
                for l in 0..<L { for t in 0..<T { for b in 0..<c.B {
                    let here = norm(l: l, s: t, t: t, b: b, cellState: cellState)
                    for k in 0...t {
                        sums[l][k] += norm(l: l, s: t - k, t: t, b: b, cellState: cellState) / here
                        counts[l][k] += 1
                    }
                } } }
                let measured = cellState ? survival.cell! : survival.hidden
                for l in 0..<L {
                    for k in 0..<T {
                        let expected = sums[l][k] / counts[l][k]
                        XCTAssertEqual(measured[l][k], expected, accuracy: 1e-6 * expected, "\(cell) c=\(cellState) layer \(l) k \(k)")
                    }
                }
                print("survival \(cell)\(cellState ? " (c)" : ""): \(measured)")
            }
        }
    }

    /// One layer, W_hh = 0, random input and output weights, and gate block `block` of b_xh.0
    /// set to `value`.
    private func survivalWithoutRecurrentWeights(_ cell: CellKind, gateBias: (block: Int, value: Double)) -> GradientSurvival {
        let c = StackedCase(cell, layers: 1, H: 4, V: 5, B: 2, T: 8, initialState: true, seed: 70)
        let layout = ModelLayout(architecture: c.architecture), H = 4
        c.parameters.fill(0, range: layout.range(of: .W_hh(layer: 0))!)
        let b_xh = layout.range(of: .b_xh(layer: 0))!.lowerBound
        c.parameters.fill(gateBias.value, range: b_xh + gateBias.block * H..<b_xh + (gateBias.block + 1) * H)
        return c.workspace().gradientSurvival(parameters: c.parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets),
                                              batchSize: c.B, initialState: c.initialState())
    }
}
