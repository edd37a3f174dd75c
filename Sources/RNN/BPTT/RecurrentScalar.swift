import BLAS
import Buffers

/// The scalar a StackedBPTTWorkspace computes in, and with it the code of one time step: Float
/// runs every cell on CRecurrence's kernels (FloatCellStep.swift: the packed per-step product,
/// the tanh cell fused into it, the gated cells' element-wise C loops); Double runs the plain
/// Swift reference on BLAS products, the function the gradient checks differentiate (a test
/// oracle only, so it lives with the tests: Tests/RNNReference). The step is chosen once, by the workspace's type: the step loops call
/// `Scalar.forwardStep` / `Scalar.backwardStep` and never test which scalar they run.
public protocol RecurrentScalar: BLASScalar {
    /// W_hh packed for the per-step products on `kernel`, or nil when the products run on BLAS.
    static func packedRecurrence(kernel: RecurrenceKernel, gates: Int, hiddenSize: Int)
        -> (forward: PackedRecurrentWeights, backward: PackedRecurrentWeights)?

    /// Whether the forward step gathers layer 0's one-hot input rows itself, step by step, so
    /// the layer skips its pass over all T·B rows.
    static var stepGathersInput: Bool { get }

    /// Whether the backward step of `cell` adds the bias gradients (and layer 0's input gradient)
    /// while its rows are in registers, so `weightGradients` skips its passes over T·B rows.
    static func stepSumsGradients(_ cell: CellKind) -> Bool

    /// Before layer l's step loop: W_hh.l packed for `product` (nothing on BLAS).
    static func prepareRecurrence(_ workspace: StackedBPTTWorkspace<Self>, parameters: Buffer<Self>, layer l: Int,
                                  product: PackedRecurrentWeights.Product)

    /// Forward step t (1…T) of layer l: h_t (and c_t, the gates) from h_{t−1} and the input.
    static func forwardStep(_ workspace: StackedBPTTWorkspace<Self>, parameters: Buffer<Self>, inputs: Buffer<Int32>,
                            layer l: Int, step t: Int, batchSize B: Int)

    /// Backward step t (lastStep…1) of layer l, dcCarry zeroed at t = lastStep: turns the total
    /// ∂L/∂h_t into the step's pre-activation gradient (xps, gru's dhps) and sends to step t−1
    /// what it needs; with gradients and `stepSumsGradients`, adds the step's bias sums (zeroed
    /// at t = lastStep); with recordNorms, the row norms of ∂L/∂h_t (and lstm's ∂L/∂c_t).
    static func backwardStep(_ workspace: StackedBPTTWorkspace<Self>, parameters: Buffer<Self>, inputs: Buffer<Int32>,
                             layer l: Int, step t: Int, lastStep: Int, batchSize B: Int, gradients: Buffer<Self>?,
                             recordNorms: Bool)

    /// e^x in the softmax: Float's vectorizing approximation, Double's libm.
    static func softmaxExp(_ x: Self) -> Self
}
