import BLAS
import Buffers

/// One step of the model for sampling a single sequence, for any cell and layer count: given
/// a token and the carried (h, c) of every layer, writes softmax(y / temperature) into
/// probabilities [V]. The same forward code as training (StackedBPTTWorkspace with B = T = 1),
/// without dropout; buffers are reused across steps (a step allocates nothing).
public final class StackedStepper<Scalar: RecurrentScalar> {
    public let architecture: ModelArchitecture
    let workspace: StackedBPTTWorkspace<Scalar>
    let token: Buffer<Int32>
    /// (h, c) of every layer after the last step (row 0); zeros after reset.
    public let state: RecurrentState<Scalar>

    public init(architecture: ModelArchitecture, kernel: RecurrenceKernel = .best) {
        self.architecture = architecture
        workspace = StackedBPTTWorkspace(architecture: architecture, maxBatchSize: 1, sequenceLength: 1, kernel: kernel)
        token = Buffer(count: 1, repeating: 0)
        state = RecurrentState(architecture: architecture, capacity: 1)
    }

    /// h = c = 0 in every layer.
    public func reset() { state.reset() }

    @_specialize(exported: true, where Scalar == Float)
    public func step(parameters: Buffer<Scalar>, token x: Int32, temperature: Double, probabilities: Buffer<Scalar>) {
        let V = architecture.vocabularySize
        precondition(probabilities.count >= V, "probabilities holds \(probabilities.count), need \(V)")
        precondition(x >= 0 && Int(x) < V, "token \(x) outside the vocabulary 0..<\(V)")
        precondition(temperature > 0, "temperature must be positive, got \(temperature)")
        token[0] = x
        workspace.forwardPass(parameters: parameters, inputs: token, batchSize: 1, initialState: state, dropout: nil)
        state.copy(from: workspace.finalState, rows: 1)
        // y = W_hy·h + b_y: the workspace left W_hy·h in ys.
        RNNKernels.temperatureSoftmax(y: workspace.ys.baseAddress, b_y: parameters.baseAddress + workspace.b_y,
                                      temperature: temperature, into: probabilities.baseAddress, V: V)
    }
}

extension RNNKernels {
    /// probabilities = softmax((y + b_y) / temperature), max-subtracted; y is overwritten.
    /// The sampling distribution of StackedStepper.
    static func temperatureSoftmax<T: BLASScalar>(y: UnsafeMutablePointer<T>, b_y: UnsafePointer<T>, temperature: Double,
                                                  into probabilities: UnsafeMutablePointer<T>, V: Int) {
        let inverseTemperature = T(1 / temperature)
        var maximum = -T.infinity
        for j in 0..<V {
            y[j] = (y[j] + b_y[j]) * inverseTemperature
            maximum = Swift.max(maximum, y[j])
        }
        var sum: T = 0
        for j in 0..<V {
            let e = T.exp(y[j] - maximum)
            probabilities[j] = e
            sum += e
        }
        for j in 0..<V { probabilities[j] /= sum }
    }
}
