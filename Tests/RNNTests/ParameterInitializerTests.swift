import Buffers
import Foundation
import RNN
import RNNReference
import XCTest

final class ParameterInitializerTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 50, hiddenSize: 64)

    private func initialized(_ scheme: InitializationScheme, seed: UInt64) -> Buffer<Float> {
        let layout = tanhLayout(shape)
        let buffer = Buffer<Float>(count: layout.count, repeating: .nan)
        ParameterInitializer.initialize(buffer, layout: layout, scheme: scheme, seed: seed)
        return buffer
    }

    func testLayoutIsContiguousInDeclaredOrder() {
        let layout = tanhLayout(shape)
        var offset = 0
        XCTAssertEqual(layout.entries.map(\.name), ModelLayout.legacyTanhRNNNames)
        for entry in layout.entries {
            XCTAssertEqual(entry.range.lowerBound, offset)
            XCTAssertEqual(entry.range.count, entry.dimensions.reduce(1, *))
            offset = entry.range.upperBound
        }
        XCTAssertEqual(layout.count, offset)
        XCTAssertEqual(layout.count, 64 * 50 + 64 * 64 + 50 * 64 + 64 + 50)
        XCTAssertEqual(layout.entry(named: "W_xh")!.dimensions, [64, 50])
        XCTAssertEqual(layout.entry(named: "W_hy")!.dimensions, [50, 64])
    }

    /// With an embedding: the table [V, E] first, W_xh.0 [4H, E]; tied, no W_hy entry (its
    /// range is the table's). torch: an untied table N(0, 1) (nn.Embedding: mean ≈ 0, variance ≈
    /// 1 over 3,200 draws, values beyond the ±1/√H of the other tensors), a tied one uniform
    /// ±1/√H (the nn.Linear it also is); min-char-rnn N(0, 0.01²).
    func testEmbeddingLayoutAndInitialization() {
        let V = 50, H = 64, E = 64
        for tied in [false, true] {
            let layout = ModelLayout(architecture: ModelArchitecture(cell: .lstm, layers: 2, hiddenSize: H, vocabularySize: V,
                                                                     embeddingSize: E, tiedWeights: tied))
            XCTAssertEqual(layout.entries.first!.name, "W_emb")
            XCTAssertEqual(layout.entries.first!.dimensions, [V, E])
            XCTAssertEqual(layout.entry(named: "W_xh.0")!.dimensions, [4 * H, E])
            XCTAssertEqual(layout.entry(named: "W_hy") == nil, tied)
            XCTAssertEqual(layout.range(of: .W_hy) == layout.range(of: .embedding), tied)
            let oneHot = ModelLayout(architecture: ModelArchitecture(cell: .lstm, layers: 2, hiddenSize: H, vocabularySize: V))
            // W_xh.0 [4H, V] becomes the table [V, E] and W_xh.0 [4H, E]; tied, W_hy [V, H] goes too
            // (at this small V the embedding costs parameters; at V ≫ 4H it saves them).
            XCTAssertEqual(oneHot.count - layout.count, 4 * H * V - V * E - 4 * H * E + (tied ? V * H : 0), "the parameter count saved")
            let buffer = Buffer<Double>(count: layout.count, repeating: .nan)
            ParameterInitializer.initialize(buffer, layout: layout, scheme: .torch, seed: 3)
            let table = buffer.toArray(range: layout.range(of: .embedding)!)
            let mean = table.reduce(0, +) / Double(table.count)
            let variance = table.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(table.count)
            let bound = 1 / Double(H).squareRoot()
            if tied {
                XCTAssertTrue(table.allSatisfy { abs($0) <= bound })
            } else {
                XCTAssertEqual(mean, 0, accuracy: 0.1)            // 5 standard errors of 1/√3200
                XCTAssertEqual(variance, 1, accuracy: 0.15)
                XCTAssertGreaterThan(table.map(abs).max()!, 2)
            }
            let rest = buffer.toArray(range: layout.range(of: .embedding)!.upperBound..<layout.count)
            XCTAssertTrue(rest.allSatisfy { abs($0) <= bound }, "the other tensors keep ±1/√H")
            ParameterInitializer.initialize(buffer, layout: layout, scheme: .minCharRNN, seed: 3)
            let small = buffer.toArray(range: layout.range(of: .embedding)!)
            XCTAssertLessThan(small.map(abs).max()!, 0.06)
        }
    }

    func testDeterministicForASeedAndDifferentForAnother() {
        for scheme in InitializationScheme.allCases {
            XCTAssertEqual(initialized(scheme, seed: 5).toArray(), initialized(scheme, seed: 5).toArray())
            XCTAssertNotEqual(initialized(scheme, seed: 5).toArray(), initialized(scheme, seed: 6).toArray())
        }
    }

    func testTorchSchemeIsUniformWithinOneOverSqrtH() {
        let bound = Float(1 / sqrt(64.0))
        let values = initialized(.torch, seed: 1).toArray()
        XCTAssertTrue(values.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(values.max()!, 0.99 * bound)   // fills the range
        XCTAssertLessThan(values.min()!, -0.99 * bound)
        let mean = values.reduce(0, +) / Float(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01 * bound)
    }

    func testMinCharRNNSchemeHasSmallGaussianWeightsAndZeroBiases() {
        let layout = tanhLayout(shape)
        let buffer = initialized(.minCharRNN, seed: 2)
        for name in ["b_h", "b_y"] {
            XCTAssertTrue(buffer.toArray(range: layout.entry(named: name)!.range).allSatisfy { $0 == 0 })
        }
        let weights = ["W_xh", "W_hh", "W_hy"].flatMap { buffer.toArray(range: layout.entry(named: $0)!.range).map(Double.init) }
        let mean = weights.reduce(0, +) / Double(weights.count)
        let std = (weights.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(weights.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 5e-4)      // ≈ 0.01/√10464 ≈ 1e-4 standard error
        XCTAssertEqual(std, 0.01, accuracy: 3e-4)
    }

    /// gate-bias b adds exactly b to the keep gate's block of b_xh.l in every layer (LSTM f, GRU
    /// z: the second block of H rows), −b to the LSTM's input gate (the first block), and changes
    /// nothing else; the tanh RNN (legacy and stacked) has no gate and is unchanged; 0 is the old
    /// initialization bit for bit.
    func testGateBiasShiftsOnlyTheKeepGateBiasOfEveryLayer() {
        let H = 8
        for cell in CellKind.allCases {
            for layers in [1, 2] {
                let layout = ModelLayout(architecture: ModelArchitecture(cell: cell, layers: layers, hiddenSize: H, vocabularySize: 5))
                func values(_ gateBias: Double) -> [Float] {
                    let buffer = Buffer<Float>(count: layout.count, repeating: .nan)
                    ParameterInitializer.initialize(buffer, layout: layout, scheme: .torch, seed: 3, gates: .shift(gateBias))
                    return buffer.toArray()
                }
                let plain = values(0), shifted = values(1.5)
                var expected = plain
                if let gate = cell.keepGate {
                    XCTAssertEqual(gate, 1, "f of i, f, g, o and z of r, z, n")
                    XCTAssertEqual(cell.writeGate, cell == .lstm ? 0 : nil, "i of i, f, g, o")
                    for l in 0..<layers {
                        let bias = layout.range(of: .b_xh(layer: l))!.lowerBound
                        for j in 0..<H {
                            expected[bias + H + j] = Float(Double(plain[bias + H + j]) + 1.5)
                            if cell == .lstm { expected[bias + j] = Float(Double(plain[bias + j]) - 1.5) }
                        }
                    }
                } else {
                    XCTAssertEqual(cell, .rnn)
                }
                XCTAssertEqual(shifted, expected, "\(cell) L=\(layers)")
                let defaulted = Buffer<Float>(count: layout.count, repeating: .nan)
                ParameterInitializer.initialize(defaulted, layout: layout, scheme: .torch, seed: 3)
                XCTAssertEqual(defaulted.toArray(), plain, "the default is no shift")
            }
        }
    }

    /// Chrono with T_max: in every layer, each unit's keep-gate bias b_xh is log u with u in
    /// [1, T_max − 1] and spread uniformly over it (LSTM f, GRU z), the LSTM input gate's is −log u
    /// of the same unit, b_hh of those gates is 0, and every other value is the scheme's draw; the
    /// tanh RNN is unchanged. The draw follows the seed.
    func testChronoDrawsKeepGateBiasesFromLogUniformOverTheDelays() {
        let H = 256, maxDelay = 41
        for cell in CellKind.allCases {
            for layers in [1, 2] {
                let layout = ModelLayout(architecture: ModelArchitecture(cell: cell, layers: layers, hiddenSize: H, vocabularySize: 5))
                func values(_ gates: GateInitialization, seed: UInt64 = 3) -> [Float] {
                    let buffer = Buffer<Float>(count: layout.count, repeating: .nan)
                    ParameterInitializer.initialize(buffer, layout: layout, scheme: .torch, seed: seed, gates: gates)
                    return buffer.toArray()
                }
                let plain = values(.shift(0)), chrono = values(.chrono(maxDelay: maxDelay))
                guard let keep = cell.keepGate else {
                    XCTAssertEqual(cell, .rnn)
                    XCTAssertEqual(chrono, plain, "the tanh RNN has no gate")
                    continue
                }
                var expected = plain
                for l in 0..<layers {
                    let b_xh = layout.range(of: .b_xh(layer: l))!.lowerBound, b_hh = layout.range(of: .b_hh(layer: l))!.lowerBound
                    let keepBias = (0..<H).map { Double(chrono[b_xh + keep * H + $0]) }
                    let u = keepBias.map { exp($0) }
                    XCTAssertTrue(u.allSatisfy { $0 >= 1 - 1e-5 && $0 <= Double(maxDelay - 1) + 1e-4 }, "\(cell) L=\(l): u in [1, T_max − 1]")
                    // Uniform on [1, 40]: mean 20.5, each quarter of the range holds a quarter of the units.
                    XCTAssertEqual(u.reduce(0, +) / Double(H), 20.5, accuracy: 2.5, "\(cell) layer \(l)")
                    for quarter in 0..<4 {
                        let low = 1 + 9.75 * Double(quarter), high = low + 9.75
                        XCTAssertEqual(Double(u.filter { $0 >= low && $0 < high }.count) / Double(H), 0.25, accuracy: 0.09)
                    }
                    for j in 0..<H {
                        expected[b_xh + keep * H + j] = chrono[b_xh + keep * H + j]
                        expected[b_hh + keep * H + j] = 0
                        if let write = cell.writeGate {
                            XCTAssertEqual(chrono[b_xh + write * H + j], -chrono[b_xh + keep * H + j], "b_i = −b_f")
                            expected[b_xh + write * H + j] = chrono[b_xh + write * H + j]
                            expected[b_hh + write * H + j] = 0
                        }
                    }
                }
                XCTAssertEqual(chrono, expected, "\(cell) L=\(layers): only the keep (and LSTM input) gate biases change")
                XCTAssertEqual(values(.chrono(maxDelay: maxDelay)), chrono, "the same seed, the same draw")
                XCTAssertNotEqual(values(.chrono(maxDelay: maxDelay), seed: 4), chrono)
            }
        }
    }

    /// What the run header prints for each cell.
    func testGateInitializationSummaryNamesEachCellsGates() {
        XCTAssertEqual(GateInitialization.shift(3).summary(for: .lstm), "forget gate +3.0, input gate −3.0")
        XCTAssertEqual(GateInitialization.shift(3).summary(for: .gru), "update gate +3.0")
        XCTAssertEqual(GateInitialization.shift(0).summary(for: .gru), "update gate bias as drawn")
        XCTAssertEqual(GateInitialization.chrono(maxDelay: 80).summary(for: .lstm),
                       "chrono T_max 80: forget gate bias log U[1, 79], input gate its negative")
        XCTAssertEqual(GateInitialization.chrono(maxDelay: 80).summary(for: .gru), "chrono T_max 80: update gate bias log U[1, 79]")
        for gates in [GateInitialization.shift(3), .chrono(maxDelay: 80)] {
            XCTAssertEqual(gates.summary(for: .rnn), "no gate (unchanged)")
        }
    }

    func testGeneratorStateRestoresTheStream() throws {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<10 { _ = generator.next() }
        var restored = SeededGenerator(state: generator.state)
        let decoded = try JSONDecoder().decode(SeededGenerator.self, from: JSONEncoder().encode(generator))
        XCTAssertEqual(decoded, generator)
        XCTAssertEqual((0..<5).map { _ in restored.next() }, (0..<5).map { _ in generator.next() })
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 2)
        XCTAssertNotEqual(a.next(), b.next())
    }

    func testGaussianAndUniformMoments() {
        var generator = SeededGenerator(seed: 7)
        let gaussians = (0..<100_000).map { _ in generator.nextGaussian() }
        let mean = gaussians.reduce(0, +) / 1e5
        let variance = gaussians.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 1e5
        XCTAssertEqual(mean, 0, accuracy: 0.015)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        let uniforms = (0..<10_000).map { _ in generator.nextUniform() }
        XCTAssertTrue(uniforms.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}
