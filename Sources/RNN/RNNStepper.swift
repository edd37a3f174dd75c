import BLAS
import Buffers

/// One step of the recurrence for sampling a single sequence: given a token and the hidden
/// state h [H] (updated in place), writes softmax(y / temperature) into probabilities [V].
/// Same math as BPTTWorkspace with B = 1; buffers are reused across steps.
public final class RNNStepper<Scalar: BLASScalar> {
    public let shape: RNNShape
    let layout: ParameterLayout
    let h: Buffer<Scalar>
    /// a_t before tanh (gemm cannot write into its own input h_{t-1}).
    let a: Buffer<Scalar>
    let y: Buffer<Scalar>

    public init(shape: RNNShape) {
        self.shape = shape
        layout = ParameterLayout(shape: shape)
        h = Buffer(count: shape.hiddenSize, repeating: 0)
        a = Buffer(count: shape.hiddenSize, repeating: 0)
        y = Buffer(count: shape.vocabularySize, repeating: 0)
    }

    /// h = 0.
    public func reset() { h.fill(0) }

    public var hidden: Buffer<Scalar> { h }

    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public func step(parameters: Buffer<Scalar>, token: Int32, temperature: Double, probabilities: Buffer<Scalar>) {
        let H = shape.hiddenSize, V = shape.vocabularySize
        precondition(parameters.count == layout.count, "parameters: \(parameters.count) scalars, layout needs \(layout.count)")
        precondition(probabilities.count >= V, "probabilities holds \(probabilities.count), need \(V)")
        precondition(token >= 0 && Int(token) < V, "token \(token) outside the vocabulary 0..<\(V)")
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        let p = parameters.baseAddress
        let W_xh = p + layout.range(of: .W_xh).lowerBound, b_h = p + layout.range(of: .b_h).lowerBound
        let b_y = p + layout.range(of: .b_y).lowerBound

        // a = W_xh[:, x] + b_h + W_hh·h   (column x of W_xh is strided; one column is cheap)
        for i in 0..<H { a[i] = W_xh[i * V + Int(token)] + b_h[i] }
        BLAS.gemm(.none, .transposed, m: 1, n: H, k: H, a: h, b: parameters,
                  bOffset: layout.range(of: .W_hh).lowerBound, beta: 1, c: a)
        RNNKernels.tanhInPlace(a.baseAddress, count: H)   // the same tanh as the batched forward
        h.baseAddress.update(from: a.baseAddress, count: H)

        // y = W_hy·h + b_y, then a max-subtracted softmax of y / temperature.
        BLAS.gemm(.none, .transposed, m: 1, n: V, k: H, a: h, b: parameters,
                  bOffset: layout.range(of: .W_hy).lowerBound, beta: 0, c: y)
        RNNKernels.temperatureSoftmax(y: y.baseAddress, b_y: b_y, temperature: temperature,
                                      into: probabilities.baseAddress, V: V)
    }
}
