import BLAS
import Buffers
import RNN
import XCTest

/// Parameters uniform in (-scale, scale), deterministic from the seed.
func randomParameters<T: BLASScalar>(_ type: T.Type, shape: RNNShape, seed: UInt64, scale: Double) -> Buffer<T> {
    var generator = SeededGenerator(seed: seed)
    let count = ParameterLayout(shape: shape).count
    return Buffer<T>((0..<count).map { _ in T((2 * generator.nextUniform() - 1) * scale) })
}

/// Random tokens; the first min(count, V) are 0, 1, … so every token occurs (no exactly-zero
/// W_xh columns in the gradient check).
func randomTokens(count: Int, vocabularySize V: Int, seed: UInt64) -> [Int32] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { $0 < V ? Int32($0) : Int32(generator.next() % UInt64(V)) }
}

func randomValues(count: Int, seed: UInt64, scale: Double) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (2 * generator.nextUniform() - 1) * scale }
}

/// ‖a - b‖ / ‖b‖ over a range: a norm-wise relative error.
func normwiseRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var difference = 0.0, reference = 0.0
    for i in a.indices {
        difference += (a[i] - b[i]) * (a[i] - b[i])
        reference += b[i] * b[i]
    }
    return (difference / max(reference, 1e-300)).squareRoot()
}
