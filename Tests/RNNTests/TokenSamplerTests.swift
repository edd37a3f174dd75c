import Buffers
import Foundation
import RNN
import RNNReference
import XCTest

/// TokenSampler: reproducible streams, top-k, temperature, and empirical frequencies against
/// a model whose next-token distribution is known in closed form.
final class TokenSamplerTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 9, hiddenSize: 12)

    private func sampler(seed: UInt64, parameterSeed: UInt64 = 31) -> TokenSampler {
        TokenSampler(architecture: ModelArchitecture(shape: shape), parameters: randomParameters(Float.self, shape: shape, seed: parameterSeed, scale: 1),
                     seed: seed)
    }

    /// W_hh = W_hy = 0: y = b_y whatever the input, so p = softmax(b_y) = `distribution` at every step.
    private func constantModel(_ distribution: [Double], seed: UInt64) -> TokenSampler {
        let shape = RNNShape(vocabularySize: distribution.count, hiddenSize: 3)
        let layout = tanhLayout(shape)
        let parameters = randomParameters(Float.self, shape: shape, seed: 32, scale: 1)
        parameters.fill(0, range: layout.range(of: .W_hh(layer: 0))!)
        parameters.fill(0, range: layout.range(of: .W_hy)!)
        parameters.copy(from: distribution.map { Float(log($0)) }, at: layout.range(of: .b_y)!.lowerBound)
        let sampler = TokenSampler(architecture: ModelArchitecture(shape: shape), parameters: parameters, seed: seed)
        sampler.prime(tokens: [0])
        return sampler
    }

    private func entropy(_ p: [Double]) -> Double {
        -p.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
    }

    func testReproducibleForASeedAndDifferentForAnother() {
        let a = sampler(seed: 5), b = sampler(seed: 5), c = sampler(seed: 6)
        for s in [a, b, c] { s.prime(tokens: [1, 4, 2]) }
        let first = a.sample(count: 200, temperature: 1.2, topK: 6)
        XCTAssertEqual(first, b.sample(count: 200, temperature: 1.2, topK: 6))
        XCTAssertNotEqual(first, c.sample(count: 200, temperature: 1.2, topK: 6))
        XCTAssertTrue(first.allSatisfy { $0 >= 0 && $0 < 9 })
        // Unprimed, the first token is drawn uniformly; still reproducible.
        XCTAssertEqual(sampler(seed: 9).sample(count: 50), sampler(seed: 9).sample(count: 50))
    }

    func testPrimingChangesTheContinuation() {
        let a = sampler(seed: 5), b = sampler(seed: 5)
        a.prime(tokens: [1, 4, 2])
        b.prime(tokens: [3, 3, 8])
        XCTAssertNotEqual(a.probabilities(), b.probabilities())
    }

    func testTopOneIsArgmax() {
        let s = sampler(seed: 7)
        s.prime(tokens: [3])
        for step in 0..<100 {
            let p = s.probabilities()
            let argmax = p.indices.max { p[$0] < p[$1] }!
            XCTAssertEqual(s.probabilities(topK: 1)[argmax], 1)
            XCTAssertEqual(s.next(temperature: 1.5, topK: 1), Int32(argmax), "step \(step)")
        }
        // A tiny temperature approaches argmax too.
        let t = sampler(seed: 8)
        t.prime(tokens: [3])
        for _ in 0..<30 {
            let p = t.probabilities()
            XCTAssertEqual(t.next(temperature: 1e-4), Int32(p.indices.max { p[$0] < p[$1] }!))
        }
    }

    func testTopKKeepsTheKMostProbable() {
        let s = sampler(seed: 10)
        s.prime(tokens: [0, 5])
        let full = s.probabilities()
        let top3 = s.probabilities(topK: 3)
        let ranked = full.indices.sorted { full[$0] > full[$1] }
        XCTAssertEqual(Set(top3.indices.filter { top3[$0] > 0 }), Set(ranked.prefix(3)))
        XCTAssertEqual(top3.reduce(0, +), 1, accuracy: 1e-12)
        let kept = ranked.prefix(3).reduce(0) { $0 + full[$1] }
        for j in ranked.prefix(3) { XCTAssertEqual(top3[j], full[j] / kept, accuracy: 1e-9) }
        XCTAssertEqual(s.probabilities(topK: 100), full)
        for _ in 0..<200 {
            let allowed = Set(s.probabilities(topK: 3).indices.filter { s.probabilities(topK: 3)[$0] > 0 })
            XCTAssertTrue(allowed.contains(Int(s.next(topK: 3))))
        }
    }

    /// Pearson's χ² over `count` draws against `expected`; the bound is the 0.999 quantile.
    private func chiSquare(_ sampler: TokenSampler, expected: [Double], count: Int,
                           temperature: Double = 1, topK: Int? = nil) -> Double {
        var observed = [Int](repeating: 0, count: expected.count)
        for _ in 0..<count { observed[Int(sampler.next(temperature: temperature, topK: topK))] += 1 }
        var chi = 0.0
        for j in expected.indices {
            if expected[j] == 0 {
                XCTAssertEqual(observed[j], 0, "token \(j) has probability 0")
                continue
            }
            let e = expected[j] * Double(count)
            chi += (Double(observed[j]) - e) * (Double(observed[j]) - e) / e
        }
        return chi
    }

    func testEmpiricalFrequenciesMatchTheKnownDistribution() {
        let distribution = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04]
        let model = constantModel(distribution, seed: 11)
        let p = model.probabilities()
        for j in distribution.indices { XCTAssertEqual(p[j], distribution[j], accuracy: 1e-6) }
        XCTAssertLessThan(chiSquare(model, expected: distribution, count: 20_000), 20.5)   // χ²(5) 0.999 quantile

        // Temperature ½ squares the probabilities; top-3 renormalizes the three largest.
        let squared = distribution.map { $0 * $0 }, sum = squared.reduce(0, +)
        XCTAssertLessThan(chiSquare(constantModel(distribution, seed: 12), expected: squared.map { $0 / sum },
                                    count: 20_000, temperature: 0.5), 20.5)
        let top3 = [0.4, 0.25, 0.15, 0, 0, 0].map { $0 / 0.8 }
        XCTAssertLessThan(chiSquare(constantModel(distribution, seed: 13), expected: top3, count: 20_000, topK: 3),
                          13.8)   // χ²(2) 0.999 quantile

        // The test can fail: the same draws against a wrong distribution.
        let wrong = [0.35, 0.3, 0.15, 0.1, 0.06, 0.04]
        XCTAssertGreaterThan(chiSquare(constantModel(distribution, seed: 11), expected: wrong, count: 20_000), 20.5)
    }

    func testTemperatureSharpeningReducesEntropy() {
        let s = sampler(seed: 14)
        s.prime(tokens: [2, 7])
        let hot = entropy(s.probabilities(temperature: 2))
        let warm = entropy(s.probabilities(temperature: 1))
        let cold = entropy(s.probabilities(temperature: 0.5))
        XCTAssertGreaterThan(hot, warm)
        XCTAssertGreaterThan(warm, cold)
        // Empirically, on the constant model: fewer distinct outcomes, lower entropy.
        let distribution = [0.3, 0.2, 0.2, 0.15, 0.1, 0.05]
        func empiricalEntropy(_ temperature: Double) -> Double {
            let model = constantModel(distribution, seed: 15)
            var counts = [Double](repeating: 0, count: 6)
            for _ in 0..<5000 { counts[Int(model.next(temperature: temperature))] += 1 }
            return entropy(counts.map { $0 / 5000 })
        }
        XCTAssertGreaterThan(empiricalEntropy(1), empiricalEntropy(0.3) + 0.3)
    }
}
