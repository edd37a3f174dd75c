import Buffers
import RNN

/// The forward/backward engine of a run's model. The one-layer tanh RNN without dropout keeps
/// BPTTWorkspace (its packed recurrence kernel; today's losses bit for bit: the stacked Float
/// path is not bit-exact against it at large H); every other architecture runs
/// StackedBPTTWorkspace. The carried state is a RecurrentState either way ([1, maxB, H] h
/// alone is exactly BPTTWorkspace's initialHidden layout).
package enum ModelWorkspace {
    case tanh(BPTTWorkspace<Float>)
    case stacked(StackedBPTTWorkspace<Float>)

    package init(architecture: ModelArchitecture, dropout: Double, maxBatchSize: Int, sequenceLength: Int) {
        if architecture.isLegacyTanhRNN && dropout == 0 {
            self = .tanh(BPTTWorkspace(shape: architecture.shape, maxBatchSize: maxBatchSize, sequenceLength: sequenceLength))
        } else {
            self = .stacked(StackedBPTTWorkspace(architecture: architecture, maxBatchSize: maxBatchSize,
                                                 sequenceLength: sequenceLength))
        }
    }

    /// Forward and BPTT of one batch (see the workspaces); initialState nil means h = c = 0.
    package func forwardBackward(parameters: Buffer<Float>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize: Int,
                                 initialState: RecurrentState<Float>?, tokenCountForMean: Int, dropout: DropoutDraw?,
                                 gradients: Buffer<Float>, readiness: GradientReadiness?) -> Double {
        switch self {
        case .tanh(let workspace):
            return workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                                             initialHidden: initialState?.h, tokenCountForMean: tokenCountForMean,
                                             gradients: gradients, readiness: readiness)
        case .stacked(let workspace):
            return workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                                             initialState: initialState, tokenCountForMean: tokenCountForMean,
                                             dropout: dropout, gradients: gradients, readiness: readiness)
        }
    }

    /// Forward only, from h = c = 0 and without dropout (evaluation): the summed loss.
    package func forward(parameters: Buffer<Float>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize: Int) -> Double {
        switch self {
        case .tanh(let workspace):
            return workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                                     initialHidden: nil)
        case .stacked(let workspace):
            return workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: batchSize,
                                     initialState: nil)
        }
    }

    /// state ← (h_T, c_T) of every layer of the last call, rows 0..<rows (truncated BPTT).
    package func copyFinalState(into state: RecurrentState<Float>, rows: Int) {
        switch self {
        case .tanh(let workspace):
            state.h.baseAddress.update(from: workspace.finalHidden.baseAddress, count: rows * workspace.shape.hiddenSize)
        case .stacked(let workspace):
            state.copy(from: workspace.finalState, rows: rows)
        }
    }

    /// Ranges of the flat gradient in the order forwardBackward finishes them.
    package var gradientBuckets: [Range<Int>] {
        switch self {
        case .tanh(let workspace): return workspace.gradientBuckets
        case .stacked(let workspace): return workspace.gradientBuckets
        }
    }

    /// What computes the per-step recurrence product, for the run header.
    package var recurrenceDescription: String {
        switch self {
        case .tanh: return RecurrenceKernel.default.description
        case .stacked: return "\(RecurrenceKernel.default.description), [B,H]x[H,G*H] with the cells in C"
        }
    }
}
