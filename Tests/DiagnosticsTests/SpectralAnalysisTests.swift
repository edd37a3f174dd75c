import BLAS
import Buffers
import Diagnostics
import Foundation
import RNN
import RNNReference
import XCTest

/// Known-answer tests for the spectral radius and largest singular value: matrices
/// A = Q·T·Qᵀ with Q a random orthogonal matrix and T (block) upper triangular, so the
/// eigenvalues are those of T's diagonal (blocks) while A is dense and, with a non-zero
/// strict upper part, non-normal.
final class SpectralAnalysisTests: XCTestCase {
    /// A random n×n orthogonal matrix, row-major (Gram–Schmidt of a Gaussian matrix).
    private func randomOrthogonal(_ n: Int, seed: UInt64) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        var rows = (0..<n).map { _ in (0..<n).map { _ in generator.nextGaussian() } }
        for i in 0..<n {
            for _ in 0..<2 {
                for j in 0..<i {
                    let c = zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 }
                    rows[i] = zip(rows[i], rows[j]).map { $0 - c * $1 }
                }
            }
            let norm = rows[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
            rows[i] = rows[i].map { $0 / norm }
        }
        return rows.flatMap { $0 }
    }

    /// Q·T·Qᵀ.
    private func conjugate(_ t: [Double], _ n: Int, seed: UInt64) -> [Double] {
        let q = randomOrthogonal(n, seed: seed)
        var qt = [Double](repeating: 0, count: n * n), result = qt
        BLAS.gemm(m: n, n: n, k: n, a: q, b: t, c: &qt)
        BLAS.gemm(.none, .transposed, m: n, n: n, k: n, a: qt, b: q, c: &result)
        return result
    }

    /// T = diag(diagonal) + a random strict upper part of scale `upper` (2×2 rotation blocks are
    /// written over it afterwards: T stays block upper triangular).
    private func triangular(_ diagonal: [Double], upper: Double, seed: UInt64) -> [Double] {
        let n = diagonal.count
        var generator = SeededGenerator(seed: seed)
        var t = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            t[i * n + i] = diagonal[i]
            for j in i + 1..<n { t[i * n + j] = upper * (2 * generator.nextUniform() - 1) }
        }
        return t
    }

    /// Writes the 2×2 block r·[[cos θ, −sin θ], [sin θ, cos θ]] at (i, i); eigenvalues r·e^{±iθ}.
    private func setRotation(_ t: inout [Double], n: Int, at i: Int, radius r: Double, angle θ: Double) {
        t[i * n + i] = r * cos(θ); t[i * n + i + 1] = -r * sin(θ)
        t[(i + 1) * n + i] = r * sin(θ); t[(i + 1) * n + i + 1] = r * cos(θ)
    }

    private func radius(_ a: [Double], _ n: Int) -> Double {
        SpectralAnalysis.spectralRadius(of: Buffer(a), size: n)
    }

    func testSymmetricMatrixWithKnownEigenvalues() {
        let eigenvalues = [2.5, -1.7, 1.2, 0.9, -0.5, 0.3, 0.1, -2.1, 0.05, 1.9]
        let a = conjugate(triangular(eigenvalues, upper: 0, seed: 1), 10, seed: 2)
        XCTAssertEqual(a[1 * 10 + 3], a[3 * 10 + 1], accuracy: 1e-12, "symmetric by construction")
        XCTAssertEqual(radius(a, 10), 2.5, accuracy: 2.5e-3)
        XCTAssertEqual(SpectralAnalysis.largestSingularValue(of: Buffer(a), size: 10), 2.5, accuracy: 2.5e-3)
        // A dominant negative eigenvalue.
        let b = conjugate(triangular(eigenvalues.map { $0 == 2.5 ? -3.25 : $0 }, upper: 0, seed: 1), 10, seed: 3)
        XCTAssertEqual(radius(b, 10), 3.25, accuracy: 3.25e-3)
    }

    func testScaledRotationHasComplexDominantPair() {
        // r·e^{±0.7i} dominant, the rest real and smaller; non-normal through the upper part.
        let n = 12, r = 1.3
        var t = triangular([0, 0, 0.9, -0.8, 0.7, 0.5, -0.4, 0.3, 0.2, -0.1, 0.05, 0.01], upper: 0.4, seed: 4)
        setRotation(&t, n: n, at: 0, radius: r, angle: 0.7)
        let a = conjugate(t, n, seed: 5)
        XCTAssertEqual(radius(a, n), r, accuracy: r * 1e-3)
        // Spectral norm exceeds the radius for this non-normal matrix; the two must differ.
        XCTAssertGreaterThan(SpectralAnalysis.largestSingularValue(of: Buffer(a), size: n), r * 1.01)

        // A rotation pair hidden in the middle, smaller rotation pair elsewhere.
        var u = triangular([0.6, -0.5, 0, 0, 0.4, 0, 0, 0.3], upper: 0.3, seed: 6)
        setRotation(&u, n: 8, at: 2, radius: 0.95, angle: 2.9)
        setRotation(&u, n: 8, at: 5, radius: 0.7, angle: 0.3)
        XCTAssertEqual(radius(conjugate(u, 8, seed: 7), 8), 0.95, accuracy: 0.95e-3)
    }

    func testStronglyNonNormalComplexPair() {
        // diag(κ, 1)·r·R(θ)·diag(1/κ, 1): eigenvalues r·e^{±iθ}, but ‖A^k x‖ swings by ~κ² within
        // the pair's plane, so a growth-rate estimate over 250 steps is off by ~log(κ²)/250 ≈ 3%;
        // the Ritz values of the converged 2-D subspace are exact.
        let n = 6, r = 1.1, θ = 1.0, κ = 30.0
        var t = triangular([0, 0, 0.5, -0.4, 0.3, 0.2], upper: 0.2, seed: 17)
        t[0] = r * cos(θ); t[1] = -r * sin(θ) * κ
        t[n] = r * sin(θ) / κ; t[n + 1] = r * cos(θ)
        let a = conjugate(t, n, seed: 18)
        XCTAssertEqual(radius(a, n), r, accuracy: r * 1e-3)
        // The growth rate alone gives 1.082 at 60 and 1.111 at 200 iterations here.
        for iterations in [60, 200] {
            XCTAssertEqual(SpectralAnalysis.spectralRadius(of: Buffer(a), size: n, iterations: iterations), r,
                           accuracy: r * 1e-3, "\(iterations) iterations")
        }
    }

    func testScaledSignedPermutationAllEigenvaluesOnOneCircle() {
        // s·P, P a signed 9-cycle: all nine eigenvalues have modulus s (no dominant pair).
        let n = 9, s = 0.8
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + (i + 1) % n] = i % 3 == 0 ? -s : s }
        XCTAssertEqual(radius(a, n), s, accuracy: s * 1e-3)
        XCTAssertEqual(SpectralAnalysis.largestSingularValue(of: Buffer(a), size: n), s, accuracy: s * 1e-3)
        XCTAssertEqual(radius(conjugate(a, n, seed: 8), n), s, accuracy: s * 1e-3)
    }

    func testEigenvaluesPlusAndMinusR() {
        // +r and −r dominant: plain power iteration flips sign forever.
        let r = 1.7
        let a = conjugate(triangular([r, 0.9, -r, 0.5, -0.3, 1.1, 0.2, -0.6], upper: 0.5, seed: 9), 8, seed: 10)
        XCTAssertEqual(radius(a, 8), r, accuracy: r * 1e-3)
    }

    func testFloatMatrixAtAnOffsetInTheParameterBuffer() {
        let shape = RNNShape(vocabularySize: 5, hiddenSize: 6)
        let layout = tanhLayout(shape)
        let parameters = randomParameters(Float.self, shape: shape, seed: 11, scale: 3)
        var t = triangular([0, 0, 0.4, -0.3, 0.2, 0.1], upper: 0.3, seed: 12)
        setRotation(&t, n: 6, at: 0, radius: 0.9, angle: 1.1)
        let w = conjugate(t, 6, seed: 13)
        let W_hh = layout.range(of: .W_hh(layer: 0))!.lowerBound
        for i in 0..<36 { parameters[W_hh + i] = Float(w[i]) }
        XCTAssertEqual(SpectralAnalysis.spectralRadius(of: parameters, offset: W_hh, size: 6), 0.9, accuracy: 0.9e-3)
    }

    func testDegenerateMatrices() {
        XCTAssertEqual(radius([-0.25], 1), 0.25)
        XCTAssertEqual(radius([Double](repeating: 0, count: 16), 4), 0)
        // Nilpotent (strictly upper triangular): radius 0 though the norm is not.
        let nilpotent = triangular([0, 0, 0, 0, 0], upper: 1, seed: 14)
        XCTAssertEqual(radius(nilpotent, 5), 0, accuracy: 1e-3)
        // Rank one u·vᵀ: the only non-zero eigenvalue is v·u.
        let u = [1.0, 2, -1, 0.5], v = [0.3, 0.2, 0.4, 1.0]   // v·u = 0.8
        let rankOne = (0..<16).map { u[$0 / 4] * v[$0 % 4] }
        let vu = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertEqual(radius(rankOne, 4), abs(vu), accuracy: abs(vu) * 1e-3)
    }

    func testReproducibleForASeed() {
        let a = conjugate(triangular([1, 0.99, -0.5, 0.2, 0.1, 0.3], upper: 0.2, seed: 15), 6, seed: 16)
        let first = SpectralAnalysis.spectralRadius(of: Buffer(a), size: 6, iterations: 40, seed: 7)
        XCTAssertEqual(first, SpectralAnalysis.spectralRadius(of: Buffer(a), size: 6, iterations: 40, seed: 7))
    }
}
