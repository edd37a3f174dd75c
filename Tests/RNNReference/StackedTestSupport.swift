import BLAS
import Buffers
import RNN

/// A model, a batch and an initial state for the stacked-workspace tests, all deterministic
/// from the seed; `run` calls the workspace, `reference` the plain ReferenceStackedRNN.
public struct StackedCase {
    public let architecture: ModelArchitecture
    public let B: Int, T: Int
    public let parameters: Buffer<Double>
    public let inputs: [Int32], targets: [Int32]
    /// [layer][b][H]; c0 only for lstm.
    public let h0: [[[Double]]]?, c0: [[[Double]]]?
    public let draw: DropoutDraw?

    public init(_ cell: CellKind, layers: Int = 2, H: Int = 5, V: Int = 7, B: Int = 3, T: Int = 6,
         initialState: Bool = true, dropout: Double = 0, weightDrop: Double = 0, embedding: Int? = nil, tied: Bool = false,
         embeddingDrop: Double = 0, seed: UInt64 = 1, scale: Double = 0.6) {
        architecture = ModelArchitecture(cell: cell, layers: layers, hiddenSize: H, vocabularySize: V, embeddingSize: embedding,
                                         tiedWeights: tied)
        (self.B, self.T) = (B, T)
        var generator = SeededGenerator(seed: seed)
        let count = ModelLayout(architecture: architecture).count
        parameters = Buffer((0..<count).map { _ in (2 * generator.nextUniform() - 1) * scale })
        inputs = randomTokens(count: B * T, vocabularySize: V, seed: seed + 1)
        targets = randomTokens(count: B * T, vocabularySize: V, seed: seed + 2).reversed()
        func state(_ s: UInt64) -> [[[Double]]] {
            let flat = randomValues(count: layers * B * H, seed: s, scale: 0.8)
            return (0..<layers).map { l in (0..<B).map { b in Array(flat[(l * B + b) * H..<(l * B + b + 1) * H]) } }
        }
        h0 = initialState ? state(seed + 3) : nil
        c0 = initialState && cell == .lstm ? state(seed + 4) : nil
        draw = dropout > 0 || weightDrop > 0 || embeddingDrop > 0
            ? DropoutDraw(dropout: Dropout(probability: dropout, seed: seed + 5, weightDrop: weightDrop, embeddingDrop: embeddingDrop),
                          step: 17, sequenceIndices: (0..<B).map { 1000 + 7 * $0 }) : nil
    }

    /// The initial state as the workspace takes it (capacity B), or nil.
    public func initialState() -> RecurrentState<Double>? {
        guard let h0 else { return nil }
        let state = RecurrentState<Double>(architecture: architecture, capacity: B)
        for l in 0..<architecture.layers {
            for b in 0..<B {
                state.h.copy(from: h0[l][b], at: state.offset(layer: l, row: b))
                if let c0, let c = state.c { c.copy(from: c0[l][b], at: state.offset(layer: l, row: b)) }
            }
        }
        return state
    }

    public func workspace(maxBatchSize: Int? = nil) -> StackedBPTTWorkspace<Double> {
        StackedBPTTWorkspace(architecture: architecture, maxBatchSize: maxBatchSize ?? B, sequenceLength: T,
                             weightDrop: (draw?.dropout.weightDrop ?? 0) > 0)
    }

    /// forwardBackward: (summed loss, gradient of the mean loss).
    public func run(_ workspace: StackedBPTTWorkspace<Double>, parameters: Buffer<Double>? = nil) -> (loss: Double, gradient: [Double]) {
        let gradients = Buffer<Double>(count: self.parameters.count, repeating: .nan)
        let loss = workspace.forwardBackward(parameters: parameters ?? self.parameters, inputs: Buffer(inputs),
                                             targets: Buffer(targets), batchSize: B, initialState: initialState(),
                                             tokenCountForMean: B * T, dropout: draw, gradients: gradients)
        return (loss, gradients.toArray())
    }

    public func reference() -> ReferenceStackedRNN.Result {
        let model = ReferenceStackedRNN(architecture: architecture, parameters: parameters.toArray())
        let draw = self.draw
        return model.run(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, h0: h0, c0: c0,
                         tokenCount: B * T, mask: { l, t, b, j in
            guard let draw else { return 1 }
            return draw.dropout.keeps(step: draw.step, sequence: draw.sequenceIndices[b], layer: l, t: t, unit: j)
                ? draw.dropout.keepScale : 0
        }, embeddingMask: embeddingMask)
    }

    /// The embedding-dropout factor of each token's row in this case's draw (1 without).
    public func embeddingMask(_ x: Int) -> Double {
        guard let draw, draw.dropout.embeddingDrop > 0 else { return 1 }
        var mask = [Double](repeating: 0, count: architecture.vocabularySize)
        draw.dropout.fillEmbeddingMask(&mask, V: architecture.vocabularySize, step: draw.step)
        return mask[x]
    }
}
