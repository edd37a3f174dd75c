import Foundation
import BLAS
import Buffers
import XCTest

/// gemm against a naive triple loop, row-major, in every transpose combination.
final class GemmTests: XCTestCase {
    private func naive(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int,
                       alpha: Double, a: [Double], b: [Double], beta: Double, c: [Double]) -> [Double] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = ta == .none ? a[i * k + p] : a[p * m + i]
                    let bValue = tb == .none ? b[p * n + j] : b[j * k + p]
                    sum += aValue * bValue
                }
                out[i * n + j] = alpha * sum + beta * c[i * n + j]
            }
        }
        return out
    }

    private func values(_ count: Int, seed: Int) -> [Double] {
        (0..<count).map { Double(($0 * 7919 + seed * 104_729) % 1009) / 1009.0 - 0.5 }
    }

    func testDoubleAllTransposes() {
        let (m, n, k) = (5, 7, 3)
        for ta in [Transpose.none, .transposed] {
            for tb in [Transpose.none, .transposed] {
                let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
                var c = values(m * n, seed: 3)
                let expected = naive(ta, tb, m: m, n: n, k: k, alpha: 0.75, a: a, b: b, beta: -0.5, c: c)
                BLAS.gemm(ta, tb, m: m, n: n, k: k, alpha: 0.75, a: a, b: b, beta: -0.5, c: &c)
                for (got, want) in zip(c, expected) {
                    XCTAssertEqual(got, want, accuracy: 1e-12, "transposes \(ta), \(tb)")
                }
            }
        }
    }

    func testFloatOnBuffersWithOffsetsAndLeadingDimension() {
        // C[2x2] at offset 1 inside a larger buffer, A a 2x3 window of a 2x4 row-major matrix.
        let a = Buffer<Float>([9, 1, 2, 3, 9, 4, 5, 6])      // rows [1,2,3] and [4,5,6] at offset 1, lda 4
        let b = Buffer<Float>([1, 0, 0, 1, 1, 1])            // 3x2
        let c = Buffer<Float>(count: 6, repeating: -1)
        BLAS.gemm(m: 2, n: 2, k: 3, a: a, aOffset: 1, lda: 4, b: b, c: c, cOffset: 1)
        let expected: [Float] = [-1, 4, 5, 10, 11, -1]  // rows [1+3, 2+3], [4+6, 5+6]
        XCTAssertEqual(c.toArray(), expected)
        let d = Buffer<Float>(count: 4, repeating: 1)
        BLAS.gemm(m: 2, n: 2, k: 3, a: a, aOffset: 1, lda: 4, b: b, beta: 1, c: d)
        XCTAssertEqual(d.toArray(), [5, 6, 11, 12], "beta = 1 accumulates")
    }

    func testThreadCountCanBeSet() {
        let before = BLAS.threadCount
        BLAS.threadCount = 1
        XCTAssertEqual(BLAS.threadCount, 1)
        BLAS.threadCount = before
    }

    func testSgemmRateIsMeasured() {
        let rate = BLAS.measureSgemmGFLOPs(size: 128, repeats: 2)
        XCTAssertTrue(rate.isFinite && rate > 0, "sgemm rate \(rate)")
    }

    /// The sustained rate runs for its minimum time, and no single product is slower than the
    /// average of all of them.
    func testSustainedSgemmRateRunsItsTimeAndIsAtMostTheBest() {
        let start = Date()
        let rate = BLAS.measureSgemm(size: 64, minimumRuns: 1, minimumSeconds: 0.05)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.05)
        XCTAssertTrue(rate.sustained.isFinite && rate.sustained > 0, "sustained \(rate.sustained)")
        XCTAssertGreaterThanOrEqual(rate.best, rate.sustained, "the best product is at least the mean rate")
    }
}
