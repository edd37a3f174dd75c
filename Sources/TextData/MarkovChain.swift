#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A first-order Markov source over states 0..<n, the generator of `synthetic:markov`.
/// Its entropy rate is the best loss any model can reach on its output.
public struct MarkovChain: Sendable {
    /// Row-stochastic: transitions[i][j] = P(next = j | current = i).
    public let transitions: [[Double]]
    /// The stationary distribution π (π = πP).
    public let stationary: [Double]
    /// Σ_i π_i · H(P_i·) in nats per token.
    public let entropyRate: Double

    public var stateCount: Int { transitions.count }

    public init(transitions: [[Double]]) {
        self.transitions = transitions
        stationary = Self.stationaryDistribution(transitions)
        entropyRate = zip(stationary, transitions).reduce(0) { total, state in
            total + state.0 * state.1.reduce(0) { $1 > 0 ? $0 - $1 * log($1) : $0 }
        }
    }

    /// A random sparse chain: each state has `successors` possible next states with random
    /// probabilities. State (i + 1) mod n is always among them, which makes the chain
    /// irreducible (a unique stationary distribution, every symbol recurring). Every
    /// successor gets at least 0.1/successors of the mass, so none is practically unseen.
    public init(randomWithStates count: Int, successors: Int, generator: inout DataRandom) {
        precondition(count >= 1 && successors >= 1 && successors <= count, "need 1 ≤ successors ≤ states")
        var rows = [[Double]]()
        for state in 0..<count {
            let forced = (state + 1) % count
            // Partial Fisher–Yates over the other states picks the remaining successors.
            var others = (0..<count).filter { $0 != forced }
            for k in 0..<(successors - 1) {
                others.swapAt(k, k + generator.nextInt(below: others.count - k))
            }
            let chosen = [forced] + others.prefix(successors - 1)
            // Exponential draws normalized = a flat Dirichlet sample.
            let draws = chosen.map { _ in -log(1 - generator.nextDouble()) }
            let total = draws.reduce(0, +)
            var row = [Double](repeating: 0, count: count)
            for (next, draw) in zip(chosen, draws) {
                row[next] = 0.1 / Double(successors) + 0.9 * draw / total
            }
            rows.append(row)
        }
        self.init(transitions: rows)
    }

    /// Power iteration on the lazy chain (I + P)/2, which has the same stationary
    /// distribution but converges even when P is periodic (e.g. a pure cycle).
    package static func stationaryDistribution(_ transitions: [[Double]]) -> [Double] {
        let n = transitions.count
        var pi = [Double](repeating: 1 / Double(n), count: n)
        for _ in 0..<10_000_000 {
            var next = pi.map { $0 * 0.5 }
            for i in 0..<n where pi[i] > 0 {
                let weight = 0.5 * pi[i]
                for j in 0..<n where transitions[i][j] > 0 { next[j] += weight * transitions[i][j] }
            }
            let change = zip(pi, next).reduce(0) { $0 + abs($1.0 - $1.1) }
            pi = next
            if change < 1e-12 { break }
        }
        let total = pi.reduce(0, +)
        return pi.map { $0 / total }
    }

    /// `count` states, the first drawn from π so that the stream is stationary from the start.
    public func generate(count: Int, generator: inout DataRandom) -> [Int] {
        guard count > 0 else { return [] }
        func draw(_ distribution: [Double]) -> Int {
            let u = generator.nextDouble()
            var cumulative = 0.0
            for (state, p) in distribution.enumerated() {
                cumulative += p
                if u < cumulative { return state }
            }
            // Rounding left u above the final cumulative sum: take the last possible state.
            return distribution.lastIndex { $0 > 0 } ?? 0
        }
        var states = [draw(stationary)]
        states.reserveCapacity(count)
        while states.count < count { states.append(draw(transitions[states.last!])) }
        return states
    }
}
