import Buffers
import Diagnostics
import RNN
import RNNReference
import XCTest

/// GradientSurvivalProfile: averaging batches by their sample counts, the curves' order and
/// keys, the verdict read off a curve and its words; and the Float workspace (what `diagnose`
/// and `--diagnose-every` run) against the Double one.
final class GradientSurvivalProfileTests: XCTestCase {
    private let lstm2 = ModelArchitecture(cell: .lstm, layers: 2, hiddenSize: 3, vocabularySize: 5)

    func testBatchesAreWeightedByTheirSampleCounts() {
        var profile = GradientSurvivalProfile(architecture: lstm2, sequenceLength: 3)
        XCTAssertEqual(profile.curves.map(\.key), ["layer0_h", "layer0_c", "layer1_h", "layer1_c"])
        XCTAssertEqual(profile.curves.map(\.name), ["layer 0 h", "layer 0 c", "layer 1 h", "layer 1 c"])
        func batch(_ v: Double, samples: Int) -> GradientSurvival {
            let values = [[1, v, v * v], [1, v, v]]
            let counts = [[3 * samples, 2 * samples, samples], [3 * samples, 2 * samples, 0]]
            return GradientSurvival(hidden: values, cell: values.map { $0.map { $0 / 2 } }, samples: counts, cellSamples: counts)
        }
        profile.add(batch(0.5, samples: 1))
        profile.add(batch(0.2, samples: 3))
        XCTAssertEqual(profile.batchCount, 2)
        let h0 = profile.curves[0].values
        XCTAssertEqual(h0[0], 1)
        XCTAssertEqual(h0[1], (0.5 + 3 * 0.2) / 4, accuracy: 1e-15)
        XCTAssertEqual(h0[2], (0.25 + 3 * 0.04) / 4, accuracy: 1e-15)
        XCTAssertEqual(profile.curves[1].values[1], (0.25 + 3 * 0.1) / 4, accuracy: 1e-15)
        // No samples at layer 1, k = 2: nothing to average.
        XCTAssertTrue(profile.curves[2].values[2].isNaN)
        XCTAssertEqual(profile.headline.key, "layer0_h")
    }

    func testVerdictIsReadOffTheCurve() {
        typealias V = GradientSurvivalProfile.Verdict
        func verdict(_ values: [Double]) -> V {
            var profile = GradientSurvivalProfile(architecture: ModelArchitecture(cell: .gru, layers: 1, hiddenSize: 2, vocabularySize: 3),
                                                  sequenceLength: values.count)
            profile.add(GradientSurvival(hidden: [values], cell: nil, samples: [values.map { _ in 1 }], cellSamples: nil))
            return profile.headline.verdict
        }
        let halving = (0..<12).map { pow(0.5, Double($0)) }   // below 10% at k = 4, below 1% at k = 7
        XCTAssertEqual(verdict(halving), .vanishing(k: 7, tenPercent: 4))
        XCTAssertEqual(verdict(halving).description,
                       "vanishing: the gradient from step t falls below 1% of its size after 7 steps (below 10% after 4 steps)")
        XCTAssertEqual(verdict([1, 0, 0]).description, "vanishing: the gradient from step t falls below 1% of its size after 1 step")
        XCTAssertEqual(verdict((0..<12).map { pow(1.5, Double($0)) }), .exploding(k: 6))   // 1.5⁶ = 11.4
        XCTAssertEqual(verdict([1, 2, .infinity]), .exploding(k: 2))
        XCTAssertEqual(verdict([1, 0.9, 0.5, 0.6, 0.42]), .survives(steps: 4, least: 0.42))
        XCTAssertEqual(verdict([1, 0.9, 0.5, 0.6, 0.42]).description,
                       "survives: the gradient from step t keeps ≥ 42% of its size over all 4 steps measured")
        XCTAssertEqual(verdict([1, 0.05, 0.0123]).description,
                       "survives: the gradient from step t keeps ≥ 1.2% of its size over all 2 steps measured")
        XCTAssertEqual(verdict([1, 0.29, 0.999999]).description,
                       "survives: the gradient from step t keeps ≥ 29% of its size over all 2 steps measured")
        XCTAssertTrue(verdict([1, 0.999999]).description.contains("≥ 99%"), "rounded down: it follows ≥")
        XCTAssertEqual(verdict([1, 0.0099]), .vanishing(k: 1, tenPercent: 1))
        XCTAssertEqual(verdict([1]), .unmeasured)
        XCTAssertEqual(verdict([1, .nan, 0.5]), .survives(steps: 2, least: 0.5))
        XCTAssertEqual(["vanishing", "exploding", "survives"], [verdict(halving).word, verdict([1, 20]).word, verdict([1, 1]).word])
    }

    func testTableDistances() {
        XCTAssertEqual(GradientSurvivalProfile.tableDistances(sequenceLength: 1), [0])
        XCTAssertEqual(GradientSurvivalProfile.tableDistances(sequenceLength: 12), [0, 1, 2, 5, 10, 11])
        XCTAssertEqual(GradientSurvivalProfile.tableDistances(sequenceLength: 101), [0, 1, 2, 5, 10, 20, 50, 100])
    }

    /// W_hh = 0 in a tanh RNN: h_{t−1} does not reach h_t, so no gradient of L_t survives even
    /// one step: the profile is 1, 0, 0, … and the verdict "vanishing after 1 step". Any leak
    /// (a wrong row, a stale carry between the single-step passes) makes this fail.
    func testNoRecurrenceMeansNothingSurvives() {
        for layers in [1, 2] {
            let c = StackedCase(.rnn, layers: layers, H: 4, V: 5, B: 3, T: 7, initialState: false, seed: 21)
            let layout = ModelLayout(architecture: c.architecture)
            for l in 0..<layers { c.parameters.fill(0, range: layout.range(of: .W_hh(layer: l))!) }
            var profile = GradientSurvivalProfile(architecture: c.architecture, sequenceLength: c.T)
            profile.add(c.workspace().gradientSurvival(parameters: c.parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets),
                                                       batchSize: c.B, initialState: nil))
            // With two layers too: h¹_t reads h⁰_t and (W_hh.1 = 0) not h¹_{t−1}, so nothing older.
            for curve in profile.curves {
                XCTAssertEqual(curve.values, [1] + [Double](repeating: 0, count: c.T - 1), "\(layers) layers, \(curve.name)")
            }
            XCTAssertEqual(profile.headline.verdict, .vanishing(k: 1, tenPercent: 1))
        }
    }

    /// The Float workspace measures what the Double one does (relative 1e-3 where the survival
    /// is above 1e-6): the training run and `diagnose` measure in Float.
    func testFloatMeasurementAgreesWithDouble() {
        for cell in CellKind.allCases {
            let c = StackedCase(cell, layers: 2, H: 6, V: 7, B: 3, T: 10, initialState: false, seed: 44, scale: 0.9)
            let double = c.workspace().gradientSurvival(parameters: c.parameters, inputs: Buffer(c.inputs),
                                                        targets: Buffer(c.targets), batchSize: c.B, initialState: nil)
            let float = StackedBPTTWorkspace<Float>(architecture: c.architecture, maxBatchSize: c.B, sequenceLength: c.T)
                .gradientSurvival(parameters: Buffer(c.parameters.toArray().map { Float($0) }), inputs: Buffer(c.inputs),
                                  targets: Buffer(c.targets), batchSize: c.B, initialState: nil)
            for (d, f) in zip(double.hidden + (double.cell ?? []), float.hidden + (float.cell ?? [])) {
                for k in d.indices where d[k] > 1e-6 {
                    XCTAssertEqual(f[k], d[k], accuracy: 1e-3 * d[k], "\(cell) k=\(k)")
                }
            }
        }
    }
}
