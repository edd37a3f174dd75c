import Foundation
import RNN
import XCTest

/// How far apart two float32 trainings of the same math may end: the bound of every test that
/// compares runs which differ only in the order of their additions (rank counts, resuming on
/// another rank count), derived on the CPU that runs the test instead of copied from another.
///
/// The argument. A rank count changes nothing but the association of the gradient's sums over
/// sequences (each rank sums its rows, then the ring sums the ranks' partials): every product
/// and every activation is the same, only the float32 rounding of those sums differs. The other
/// evaluation orders this CPU can run — each recurrence kernel path (other tiles, other FMA
/// order), the BLAS's products and OpenBLAS's SSE3 core (other GEMM blocking) — are perturbations of the same kind
/// and size, and training amplifies them all through the same dynamics. So the reference run is
/// trained again under each of them, and the largest pairwise difference among these runs, the
/// rounding spread S, measures what float32 rounding alone does to this trajectory on this CPU.
/// A rank count may move the result by `factor` × S.
///
/// `factor` = 4, from measurement: on an AMD EPYC Zen 4 (avx512, avx2 and generic paths,
/// OpenBLAS SkylakeX/Haswell/Prescott cores) the rank-count differences of these tests
/// (np 2, 3, 4 against np 1, every path) were 0.74–1.2 × S (tanh H=256, 8 Adam steps:
/// S = 8.6e-5, differences 1.6e-5 … 6.4e-5; H=16, 20 steps: S = 2.4e-7, differences 1.6e-7 … 2.4e-7).
/// The maximum of a difference over thousands of elements is a stable statistic, so 4 leaves more
/// than a factor 3 of margin, while a real fault — a gradient averaged over the wrong count, a
/// bucket reduced twice or not at all, another seed — moves parameters by 1e-3 or more, far above
/// 4 S (each test also checks that S itself stays below `maximumSpread`).
enum RoundingSpread {
    static let factor = 4.0
    /// The kernel paths agree with the Double references to ~1e-5 (RecurrenceKernelTrainingTests):
    /// a spread above this is a broken path, not rounding.
    static let maximumSpread = 1e-3

    /// The other evaluation orders of this CPU, as environments for the rnn-dist ranks: each
    /// vector path (at its L1 depth), the BLAS's products, OpenBLAS's SSE3 core.
    static var alternatives: [(name: String, environment: [String: String])] {
        RecurrenceKernel.allSupported.filter { $0.products != .packed(.onePass) }
            .map { ("kernel \($0.name)", ["RNN_DIST_KERNEL": $0.name]) }
            + [("OpenBLAS Prescott", ["OPENBLAS_CORETYPE": "Prescott"])]
    }

    /// `factor` × the spread of `reference` (trained with the inherited environment) and of
    /// `train` under each alternative. Skips the test where no alternative changes a bit (a CPU
    /// without AVX2 and an OpenBLAS built for one core): the bound cannot be measured there.
    static func bound(reference: [String: [Float]], _ what: String,
                      train: (_ environment: [String: String], _ tag: String) throws -> [String: [Float]]) throws -> Double {
        var runs = [("inherited", reference)]
        for (index, alternative) in alternatives.enumerated() {
            runs.append((alternative.name, try train(alternative.environment, "spread\(index)")))
        }
        var spread = 0.0, pair = ("", "")
        for i in runs.indices {
            for j in runs.indices where j > i {
                let difference = ParameterDifference.maxRelative(runs[i].1, runs[j].1)
                if difference > spread { (spread, pair) = (difference, (runs[i].0, runs[j].0)) }
            }
        }
        guard spread > 0 else {
            throw XCTSkip("\(what): every evaluation order this CPU has gives the same bits; the rounding spread cannot be measured")
        }
        XCTAssertLessThan(spread, maximumSpread, "\(what): \(pair.0) and \(pair.1) disagree beyond rounding")
        return factor * spread
    }
}

/// The distance between two sets of parameters: over all tensors, the largest |x − y| divided
/// by the tensor's largest |x| (at least 1e-3, so an all-zero tensor compares absolutely).
enum ParameterDifference {
    static func maxRelative(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        guard a.keys.sorted() == b.keys.sorted() else { return .infinity }
        var worst = 0.0
        for (name, x) in a {
            let y = b[name]!
            guard x.count == y.count else { return .infinity }
            let scale = max(1e-3, Double(x.map { abs($0) }.max() ?? 0))
            for (p, q) in zip(x, y) { worst = max(worst, Double(abs(p - q)) / scale) }
        }
        return worst
    }
}
