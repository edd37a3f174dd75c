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
                    ParameterInitializer.initialize(buffer, layout: layout, scheme: .torch, seed: 3, gateBias: gateBias)
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
