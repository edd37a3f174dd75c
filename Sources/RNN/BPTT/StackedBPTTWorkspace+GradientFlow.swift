import BLAS
import Buffers

/// How much of the gradient that the loss at step t sends back survives k steps: for each distance k, the mean over t and sequences of
/// ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖, per layer, and for lstm the same through the cell state,
/// ‖∂L_t/∂c_{t−k}‖ / ‖∂L_t/∂c_t‖. Measured by backpropagating each step's loss alone — real
/// gradients, not norm bounds. (The total-loss ‖∂L/∂h_t‖ mixes every step's own loss in, so it
/// stays flat even when long-range gradients vanish.)
public struct GradientSurvival: Equatable, Sendable {
    /// hidden[l][k], k = 0..<T: the mean ratio for layer l (1 at k = 0).
    public var hidden: [[Double]]
    /// lstm: cell[l][k] through the cell state; nil for rnn and gru.
    public var cell: [[Double]]?
    /// How many (t, sequence) pairs each distance k averaged (pairs whose ‖∂L_t/∂h_t‖ is 0 are left out).
    public var samples: [[Int]]
    /// lstm: the same for the cell state (pairs whose ‖∂L_t/∂c_t‖ is 0 are left out).
    public var cellSamples: [[Int]]?

    public init(hidden: [[Double]], cell: [[Double]]?, samples: [[Int]], cellSamples: [[Int]]?) {
        precondition((cell == nil) == (cellSamples == nil), "cell survival and its sample counts come together")
        self.hidden = hidden
        self.cell = cell
        self.samples = samples
        self.cellSamples = cellSamples
    }
}

extension StackedBPTTWorkspace {
    /// The gradient survival of one batch, without dropout (a property of the model, as
    /// evaluation sees it). Costs one backward pass of up to T steps per loss step t
    /// (diagnostics, not training); overwrites the workspace's activations. Allocates only its
    /// result. `lossSteps`: average over at most this many t, every ⌈T/lossSteps⌉-th counting
    /// down from T (so every k < T is still measured); nil: every t.
    public func gradientSurvival(parameters: Buffer<Scalar>, inputs: Buffer<Int32>, targets: Buffer<Int32>,
                                 batchSize B: Int, initialState: RecurrentState<Scalar>?,
                                 lossSteps: Int? = nil) -> GradientSurvival {
        precondition(lossSteps.map { $0 >= 1 } ?? true, "lossSteps must be at least 1")
        let L = architecture.layers, H = architecture.hiddenSize, V = architecture.vocabularySize, T = sequenceLength
        let hasCell = architecture.cell.hasCellState
        var hSums = [[Double]](repeating: [Double](repeating: 0, count: T), count: L)
        var cSums = hSums
        var hCounts = [[Int]](repeating: [Int](repeating: 0, count: T), count: L), cCounts = hCounts
        forwardPass(parameters: parameters, inputs: inputs, batchSize: B, initialState: initialState, dropout: nil)
        if B > 0 {
            // dy = p − onehot in every row (its scale cancels in the ratios).
            _ = lossPass(parameters: parameters, targets: targets, batchSize: B, dyScale: 1)
            let spacing = lossSteps.map { (T + $0 - 1) / $0 } ?? 1
            for t0 in stride(from: T, through: 1, by: -spacing) {
                // Only L_{t0}: dH is dy_{t0}·W_hy in the rows of step t0 and 0 before it.
                dH.baseAddress.update(repeating: 0, count: (t0 - 1) * B * H)
                BLAS.gemm(.none, .none, m: B, n: H, k: V, a: ys, aOffset: (t0 - 1) * B * V, b: parameters,
                          bOffset: W_hy, beta: 0, c: dH, cOffset: (t0 - 1) * B * H)
                backwardLayers(parameters: parameters, inputs: inputs, batchSize: B, lastStep: t0, gradients: nil,
                               recordNorms: true)
                for l in 0..<L {
                    let rows = hNorms.baseAddress + l * T * B, cRows = cNorms.baseAddress + l * T * B
                    for b in 0..<B {
                        let h0 = rows[(t0 - 1) * B + b], c0 = cRows[(t0 - 1) * B + b]
                        for k in 0..<t0 {
                            if h0 > 0 { hSums[l][k] += rows[(t0 - 1 - k) * B + b] / h0; hCounts[l][k] += 1 }
                            if hasCell && c0 > 0 { cSums[l][k] += cRows[(t0 - 1 - k) * B + b] / c0; cCounts[l][k] += 1 }
                        }
                    }
                }
            }
        }
        func means(_ sums: [[Double]], _ counts: [[Int]]) -> [[Double]] {
            zip(sums, counts).map { s, n in zip(s, n).map { $1 > 0 ? $0 / Double($1) : .nan } }
        }
        return GradientSurvival(hidden: means(hSums, hCounts), cell: hasCell ? means(cSums, cCounts) : nil,
                                samples: hCounts, cellSamples: hasCell ? cCounts : nil)
    }
}
