import BLAS
import Buffers
import RNN
import XCTest

// The model tests' inputs (RNNTests, DiagnosticsTests): random parameters, tokens and values from a seed, the constructed
// gradient-flow model, and the norm-wise error they are compared with.

/// Parameters uniform in (-scale, scale), deterministic from the seed.
public func randomParameters<T: BLASScalar>(_ type: T.Type, shape: RNNShape, seed: UInt64, scale: Double) -> Buffer<T> {
    var generator = SeededGenerator(seed: seed)
    let count = tanhLayout(shape).count
    return Buffer<T>((0..<count).map { _ in T((2 * generator.nextUniform() - 1) * scale) })
}

/// Random tokens; the first min(count, V) are 0, 1, … so every token occurs (no exactly-zero
/// W_xh columns in the gradient check).
public func randomTokens(count: Int, vocabularySize V: Int, seed: UInt64) -> [Int32] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { $0 < V ? Int32($0) : Int32(generator.next() % UInt64(V)) }
}

public func randomValues(count: Int, seed: UInt64, scale: Double) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (2 * generator.nextUniform() - 1) * scale }
}

/// ‖a - b‖ / ‖b‖ over a range: a norm-wise relative error.
public func normwiseRelativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var difference = 0.0, reference = 0.0
    for i in a.indices {
        difference += (a[i] - b[i]) * (a[i] - b[i])
        reference += b[i] * b[i]
    }
    return (difference / max(reference, 1e-300)).squareRoot()
}

/// The constructed model of GradientFlowTests (see the set-up described there): W_hh = s × a
/// signed cyclic permutation, tiny W_xh, loss only at the last step. Shared with the
/// diagnostics tests, which check the same construction through GradientFlowProfile.
public func gradientFlowModel(shape: RNNShape, sequenceLength T: Int, batchSize B: Int, spectralRadius s: Double)
    -> (parameters: Buffer<Double>, inputs: [Int32], targets: [Int32]) {
    let H = shape.hiddenSize, V = shape.vocabularySize
    let layout = tanhLayout(shape)
    let parameters = Buffer<Double>(count: layout.count, repeating: 0)
    let W_xh = layout.range(of: .W_xh(layer: 0))!.lowerBound, W_hh = layout.range(of: .W_hh(layer: 0))!.lowerBound
    let W_hy = layout.range(of: .W_hy)!.lowerBound, b_y = layout.range(of: .b_y)!.lowerBound
    for (i, v) in randomValues(count: H * V, seed: 81, scale: 1e-10).enumerated() { parameters[W_xh + i] = v }
    for i in 0..<H { parameters[W_hh + i * H + (i + 1) % H] = i % 3 == 0 ? -s : s }
    for (i, v) in randomValues(count: H, seed: 82, scale: 1).enumerated() { parameters[W_hy + i] = v }  // row 0
    parameters[b_y] = -30
    let inputs = randomTokens(count: B * T, vocabularySize: V, seed: 83)
    var targets = [Int32]()
    for _ in 0..<B { targets += (0..<T).map { $0 == T - 1 ? 0 : Int32(1 + $0 % (V - 1)) } }
    return (parameters, inputs, targets)
}

/// (loss(p + eps·e_i) − loss(p − eps·e_i)) / 2eps, restoring parameter i afterwards.
public func centralDifference(_ parameters: Buffer<Double>, at i: Int, eps: Double, loss: () -> Double) -> Double {
    let saved = parameters[i]
    parameters[i] = saved + eps
    let plus = loss()
    parameters[i] = saved - eps
    let minus = loss()
    parameters[i] = saved
    return (plus - minus) / (2 * eps)
}

/// The one-layer tanh RNN of DESIGN §2 (its five tensors) in the one layout type.
public func tanhLayout(_ shape: RNNShape) -> ModelLayout { ModelLayout(architecture: ModelArchitecture(shape: shape)) }

/// The tanh RNN tests' terms for the one engine: h_0 and h_T as flat [B, H] buffers (one layer,
/// no c, so RecurrentState's [1, B, H] is that buffer).
extension StackedBPTTWorkspace {
    private func state(_ h0: Buffer<Scalar>?) -> RecurrentState<Scalar>? {
        guard let h0 else { return nil }
        precondition(architecture.isLegacyTanhRNN, "flat h_0 is the one-layer tanh RNN's")
        let state = RecurrentState<Scalar>(architecture: architecture, capacity: h0.count / architecture.hiddenSize)
        state.h.copy(from: h0.toArray(), at: 0)
        return state
    }

    public func forwardBackward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize: Int,
                         initialHidden: Buffer<Scalar>?, tokenCountForMean: Int, gradients: Buffer<Scalar>,
                         readiness: GradientReadiness? = nil) -> Double {
        forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                        initialState: state(initialHidden), tokenCountForMean: tokenCountForMean, gradients: gradients,
                        readiness: readiness)
    }

    public func forward(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize: Int,
                 initialHidden: Buffer<Scalar>?) -> Double {
        forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                initialState: state(initialHidden))
    }

    /// h_T [maxBatchSize, H] after the last call.
    public var finalHidden: Buffer<Scalar> { finalState.h }
}
