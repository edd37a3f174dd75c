import Foundation
import TestSupport
import XCTest
import TextData

final class SyntheticTaskTests: XCTestCase {
    func testSpecParsing() throws {
        let markov = try SyntheticTask(spec: "synthetic:markov")
        XCTAssertEqual(markov.kind, .markov)
        XCTAssertEqual(markov.symbols, 12)
        XCTAssertEqual(try SyntheticTask(spec: markov.spec), markov)

        let recall = try SyntheticTask(spec: "synthetic:recall:delay=16,payload=2,seed=9,tokens=5000")
        XCTAssertEqual([recall.delay, recall.payload, recall.alphabet, recall.trainTokens], [16, 2, 8, 5000])
        XCTAssertEqual(recall.seed, 9)
        XCTAssertEqual(try SyntheticTask(spec: recall.spec), recall)

        XCTAssertTrue(SyntheticTask.isSpec("synthetic:markov"))
        XCTAssertFalse(SyntheticTask.isSpec("data/markov.txt"))
        assertThrows(try SyntheticTask(spec: "synthetic:copy"), containing: ["unknown synthetic task 'copy'", "markov, recall"])
        assertThrows(try SyntheticTask(spec: "synthetic:markov:delay=3"),
                     containing: ["unknown key 'delay'", "markov", "seed, tokens, validation, symbols, successors"])
        assertThrows(try SyntheticTask(spec: "synthetic:markov:symbols=x"), containing: ["'x'", "symbols", "2...26"])
        assertThrows(try SyntheticTask(spec: "synthetic:recall:payload=9"), containing: ["payload", "delay (8)", "9"])
        assertThrows(try SyntheticTask(spec: "synthetic:markov:symbols"), containing: ["invalid synthetic data spec"])
        assertThrows(try SyntheticTask(spec: "synthetic:markov:symbols=4,successors=5"), containing: ["successors"])
    }

    func testMarkovCorpusMatchesItsEntropyRate() throws {
        let task = try SyntheticTask(spec: "synthetic:markov")
        let corpus = try task.makeCorpus()
        let chain = task.markovChain()
        XCTAssertEqual(corpus.entropyFloor, chain.entropyRate)
        XCTAssertEqual(corpus.trainTokens.count, 200_000)
        XCTAssertEqual(corpus.validationTokens.count, 22_222)   // 200 000 · 0.1 / 0.9
        XCTAssertEqual(corpus.vocabulary.symbols, (0..<12).map { 0x61 + UInt32($0) })  // id i = state i
        XCTAssertTrue(corpus.summary.contains("12 symbols"), corpus.summary)
        XCTAssertEqual(try task.makeCorpus().trainTokens, corpus.trainTokens, "generation is deterministic")

        // π is stationary.
        let n = chain.stateCount
        for j in 0..<n {
            let flowIn = (0..<n).reduce(0.0) { $0 + chain.stationary[$1] * chain.transitions[$1][j] }
            XCTAssertEqual(flowIn, chain.stationary[j], accuracy: 1e-10)
        }
        let h = chain.entropyRate
        XCTAssertGreaterThan(h, 0.3)
        XCTAssertLessThan(h, log(3.0))

        // Empirical NLL of the text under the true chain ≈ entropy rate.
        let tokens = corpus.trainTokens.map(Int.init)
        var nll = 0.0
        for (previous, next) in zip(tokens, tokens.dropFirst()) { nll -= log(chain.transitions[previous][next]) }
        nll /= Double(tokens.count - 1)
        XCTAssertEqual(nll, h, accuracy: 0.02 * h)

        // An order-1 count model fitted on the training split approaches it on validation.
        var counts = [[Double]](repeating: [Double](repeating: 0.01, count: n), count: n)
        for (previous, next) in zip(tokens, tokens.dropFirst()) { counts[previous][next] += 1 }
        let validation = corpus.validationTokens.map(Int.init)
        var heldOut = 0.0
        for (previous, next) in zip(validation, validation.dropFirst()) {
            heldOut -= log(counts[previous][next] / counts[previous].reduce(0, +))
        }
        heldOut /= Double(validation.count - 1)
        XCTAssertEqual(heldOut, h, accuracy: 0.03 * h)
    }

    func testPeriodicChainStillConverges() {
        // A pure cycle is periodic: plain power iteration would oscillate.
        var generator = DataRandom(seed: 3)
        let cycle = MarkovChain(randomWithStates: 5, successors: 1, generator: &generator)
        for p in cycle.stationary { XCTAssertEqual(p, 0.2, accuracy: 1e-9) }
        XCTAssertEqual(cycle.entropyRate, 0, accuracy: 1e-12)
        XCTAssertEqual(cycle.generate(count: 7, generator: &generator).count, 7)
    }

    /// A predictor with perfect memory that knows the episode layout reaches exactly the
    /// documented floor k·ln(A)/(d + k + 1), and every one of its deterministic predictions
    /// is right.
    func testRecallFloorMatchesPerfectMemoryOracle() throws {
        for spec in ["synthetic:recall", "synthetic:recall:delay=5,payload=5,alphabet=3,tokens=30000",
                     "synthetic:recall:delay=20,payload=1,alphabet=2,tokens=30000"] {
            let task = try SyntheticTask(spec: spec)
            let corpus = try task.makeCorpus()
            let (d, k, a) = (task.delay, task.payload, task.alphabet)
            let floor = try XCTUnwrap(corpus.entropyFloor)
            XCTAssertEqual(floor, Double(k) * log(Double(a)) / Double(d + k + 1), accuracy: 1e-15, spec)
            XCTAssertTrue(corpus.summary.hasPrefix("recall, \(k) of \(a) letters repeated \(d) steps later, floor "),
                          corpus.summary)

            let text = Array(corpus.vocabulary.decode(corpus.trainTokens + corpus.validationTokens).unicodeScalars)
            let letters = Set((0..<a).map { Unicode.Scalar(UInt8(ascii: "a") + UInt8($0)) })
            let length = d + k + 1
            var cost = 0.0
            var mistakes = 0
            for t in 1..<text.count {
                let phase = t % length
                if phase < k {
                    // Fresh payload: uniform over the alphabet, no predictor can do better.
                    if !letters.contains(text[t]) { mistakes += 1 }
                    cost += log(Double(a))
                } else {
                    let prediction: Unicode.Scalar = phase < d ? "." : phase < d + k ? text[t - d] : "\n"
                    if prediction != text[t] { mistakes += 1 }
                }
            }
            XCTAssertEqual(mistakes, 0, spec)
            let empirical = cost / Double(text.count - 1)
            XCTAssertEqual(empirical, floor, accuracy: 0.002 * floor, spec)
        }
    }
}
