import Buffers
import Clock
import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Entry points over OpenBLAS: the thread count and gemm on row-major buffers.
public enum BLAS {
    /// OpenBLAS's worker-thread count. One per rank when the ranks fill the cores.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// C[m×n] ← alpha·op(A)·op(B) + beta·C, all row-major, A is m×k after op, B is k×n after op.
    /// Leading dimensions default to the packed row length.
    public static func gemm<T: BLASScalar>(
        _ transposeA: Transpose = .none, _ transposeB: Transpose = .none,
        m: Int, n: Int, k: Int,
        alpha: T = 1, a: Buffer<T>, aOffset: Int = 0, lda: Int? = nil,
        b: Buffer<T>, bOffset: Int = 0, ldb: Int? = nil,
        beta: T = 0, c: Buffer<T>, cOffset: Int = 0, ldc: Int? = nil
    ) {
        let lda = lda ?? (transposeA == .none ? k : m)
        let ldb = ldb ?? (transposeB == .none ? n : k)
        let ldc = ldc ?? n
        let aRows = transposeA == .none ? m : k
        let bRows = transposeB == .none ? k : n
        precondition(aOffset + max(0, (aRows - 1) * lda + (transposeA == .none ? k : m)) <= a.count, "gemm: A too small")
        precondition(bOffset + max(0, (bRows - 1) * ldb + (transposeB == .none ? n : k)) <= b.count, "gemm: B too small")
        precondition(cOffset + max(0, (m - 1) * ldc + n) <= c.count, "gemm: C too small")
        T.gemm(transposeA, transposeB, m: m, n: n, k: k,
               alpha: alpha, a: a.baseAddress + aOffset, lda: lda,
               b: b.baseAddress + bOffset, ldb: ldb,
               beta: beta, c: c.baseAddress + cOffset, ldc: ldc)
    }

    /// The same product on arrays, for tests and small one-off computations.
    public static func gemm<T: BLASScalar>(
        _ transposeA: Transpose = .none, _ transposeB: Transpose = .none,
        m: Int, n: Int, k: Int, alpha: T = 1, a: [T], b: [T], beta: T = 0, c: inout [T]
    ) {
        precondition(a.count == m * k && b.count == k * n && c.count == m * n, "gemm: array sizes do not match m, n, k")
        let lda = transposeA == .none ? k : m
        let ldb = transposeB == .none ? n : k
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    T.gemm(transposeA, transposeB, m: m, n: n, k: k, alpha: alpha,
                           a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb,
                           beta: beta, c: c.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// Measures this process's sgemm rate in GFLOP/s on an n×n×n product (best of `repeats`),
    /// with the current thread count. The benchmarks report their speed against it.
    public static func measureSgemmGFLOPs(size n: Int = 1024, repeats: Int = 5) -> Double {
        measureSgemm(size: n, minimumRuns: repeats, minimumSeconds: 0).best
    }

    /// An sgemm rate two ways, in GFLOP/s: the best single product, and the sustained rate
    /// (all products' FLOPs over their total time).
    public struct SgemmRate: Sendable, Codable {
        public var best: Double
        public var sustained: Double

        public init(best: Double, sustained: Double) {
            (self.best, self.sustained) = (best, sustained)
        }
    }

    /// Runs n×n×n sgemm at least `minimumRuns` times and for at least `minimumSeconds`. On a
    /// quiet core the two rates agree within a few %; on cores shared with another process the
    /// best product is one the scheduler happened to leave alone, while the sustained rate is
    /// the core's share that a workload running as long (training steps) gets.
    public static func measureSgemm(size n: Int = 1024, minimumRuns: Int = 5, minimumSeconds: Double = 0.5) -> SgemmRate {
        let a = Buffer<Float>(count: n * n, repeating: 0.5)
        let b = Buffer<Float>(count: n * n, repeating: 0.25)
        let c = Buffer<Float>(count: n * n, repeating: 0)
        gemm(m: n, n: n, k: n, a: a, b: b, c: c) // warm-up: thread start, page faults
        var best = Double.infinity, total = 0.0, runs = 0
        while runs < minimumRuns || total < minimumSeconds {
            let start = MonotonicClock.seconds()
            gemm(m: n, n: n, k: n, a: a, b: b, c: c)
            let seconds = MonotonicClock.seconds() - start
            best = min(best, seconds)
            total += seconds
            runs += 1
        }
        let flops = 2 * Double(n) * Double(n) * Double(n)
        return SgemmRate(best: flops / best / 1e9, sustained: flops * Double(runs) / total / 1e9)
    }
}
