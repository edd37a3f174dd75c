/// The recurrent cell of every layer (DESIGN §2b). Each is PyTorch's nn.RNN (tanh), nn.LSTM or
/// nn.GRU cell, with its gate blocks stacked along the rows of W_xh.l and W_hh.l in PyTorch's
/// order: lstm i, f, g, o; gru r, z, n.
public enum CellKind: String, CaseIterable, Codable, Sendable {
    case rnn, lstm, gru

    /// G: the gate blocks of H rows each in W_xh.l, W_hh.l, b_xh.l, b_hh.l.
    public var gateCount: Int {
        switch self {
        case .rnn: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }

    /// The gate block whose opening keeps the state: the LSTM forget gate f (c_t = f ⊙ c_{t−1} + …),
    /// the GRU update gate z (h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}); the tanh RNN has none.
    public var keepGate: Int? {
        switch self {
        case .rnn: return nil
        case .lstm, .gru: return 1
        }
    }

    /// The gate block that scales what is written into the state: the LSTM input gate i; the GRU
    /// writes (1 − z), the keep gate's complement, and the tanh RNN has no gate.
    public var writeGate: Int? { self == .lstm ? 0 : nil }

    /// Whether the cell carries a cell state c besides h (truncated BPTT carries both).
    public var hasCellState: Bool { self == .lstm }
}

/// Everything that fixes the tensors of a model: cell, layer count L, hidden width H,
/// vocabulary V, and how layer 0 reads a token: one-hot (embeddingSize nil: W_xh.0 is
/// [G·H, V]) or through an embedding table [V, E] (W_xh.0 is [G·H, E]), whose rows may also be
/// the output layer's (tiedWeights: W_hy is the embedding, so E = H). `cell: .rnn, layers: 1`
/// without an embedding is the model of DESIGN §2 with its five tensors.
public struct ModelArchitecture: Hashable, Codable, Sendable {
    public var cell: CellKind
    public var layers: Int
    public var hiddenSize: Int
    public var vocabularySize: Int
    /// E, the embedding width; nil: one-hot input.
    public var embeddingSize: Int?
    /// W_hy is the embedding table (one tensor, two uses); needs embeddingSize == hiddenSize.
    public var tiedWeights: Bool

    public init(cell: CellKind, layers: Int, hiddenSize: Int, vocabularySize: Int, embeddingSize: Int? = nil,
                tiedWeights: Bool = false) {
        precondition(layers >= 1 && hiddenSize > 0 && vocabularySize > 0,
                     "ModelArchitecture needs L >= 1, H > 0, V > 0; got L=\(layers) H=\(hiddenSize) V=\(vocabularySize)")
        precondition(embeddingSize.map { $0 > 0 } ?? true, "ModelArchitecture needs E > 0, got \(embeddingSize ?? 0)")
        precondition(!tiedWeights || embeddingSize == hiddenSize,
                     "tied weights need an embedding of E = H = \(hiddenSize), got \(embeddingSize.map(String.init) ?? "none")")
        self.cell = cell
        self.layers = layers
        self.hiddenSize = hiddenSize
        self.vocabularySize = vocabularySize
        self.embeddingSize = embeddingSize
        self.tiedWeights = tiedWeights
    }

    /// Layer 0's input width: E with an embedding, V one-hot.
    public var inputSize: Int { embeddingSize ?? vocabularySize }

    /// The one-layer tanh RNN of DESIGN §2.
    public init(shape: RNNShape) {
        self.init(cell: .rnn, layers: 1, hiddenSize: shape.hiddenSize, vocabularySize: shape.vocabularySize)
    }

    public var shape: RNNShape { RNNShape(vocabularySize: vocabularySize, hiddenSize: hiddenSize) }

    /// Whether the model's files use the five names of DESIGN §2 (W_xh, W_hh, W_hy, b_h, b_y; no
    /// b_hh), so that every file of the one-layer tanh RNN ever written loads. A naming of the
    /// file format only: the model computes as any other.
    public var isLegacyTanhRNN: Bool { cell == .rnn && layers == 1 && embeddingSize == nil }

    /// "tanh RNN H=64" for the one-layer tanh RNN (the name its run headers always had), else
    /// "lstm L=2 H=512", with an embedding "lstm L=2 H=512 E=512 tied".
    public var summary: String {
        if isLegacyTanhRNN { return "tanh RNN H=\(hiddenSize)" }
        let embedding = embeddingSize.map { " E=\($0)\(tiedWeights ? " tied" : "")" } ?? ""
        return "\(cell) L=\(layers) H=\(hiddenSize)\(embedding)"
    }
}

/// One tensor of the model. Layers are numbered from 0 (the one that reads the one-hot x, or
/// the embedding's row of x).
public enum ModelTensor: Hashable, Sendable {
    case embedding, W_xh(layer: Int), W_hh(layer: Int), b_xh(layer: Int), b_hh(layer: Int), W_hy, b_y
}

/// Where each tensor lives in the flat parameter (and gradient) buffer, its name in files and
/// its row-major dimensions. Order: the embedding W_emb [V, E] when there is one; for l = 0…L−1:
/// W_xh.l, W_hh.l, b_xh.l, b_hh.l; then W_hy, b_y — except the one-layer tanh RNN, whose files
/// keep DESIGN §2's order and names (`legacyTanhRNNNames`: b_h is b_xh.0, and b_hh.0 does not
/// exist, i.e. is 0). With tied weights W_hy has no entry of its own: `range(of: .W_hy)` is the
/// embedding's range, so the tensor is stored (and reduced, clipped, updated) once.
public struct ModelLayout: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public let tensor: ModelTensor
        public let name: String
        public let dimensions: [Int]
        public let range: Range<Int>
    }

    public let architecture: ModelArchitecture
    public let entries: [Entry]

    /// The one-layer tanh RNN's tensors in files, in buffer order (DESIGN §2).
    public static let legacyTanhRNNNames = ["W_xh", "W_hh", "W_hy", "b_h", "b_y"]

    public init(architecture a: ModelArchitecture) {
        self.architecture = a
        let H = a.hiddenSize, V = a.vocabularySize, GH = a.cell.gateCount * H
        var list: [(ModelTensor, String, [Int])] = []
        if a.isLegacyTanhRNN {
            list = [(.W_xh(layer: 0), "W_xh", [H, V]), (.W_hh(layer: 0), "W_hh", [H, H]),
                    (.W_hy, "W_hy", [V, H]), (.b_xh(layer: 0), "b_h", [H]), (.b_y, "b_y", [V])]
        } else {
            if let E = a.embeddingSize { list.append((.embedding, "W_emb", [V, E])) }
            for l in 0..<a.layers {
                list += [(.W_xh(layer: l), "W_xh.\(l)", [GH, l == 0 ? a.inputSize : H]), (.W_hh(layer: l), "W_hh.\(l)", [GH, H]),
                         (.b_xh(layer: l), "b_xh.\(l)", [GH]), (.b_hh(layer: l), "b_hh.\(l)", [GH])]
            }
            if !a.tiedWeights { list.append((.W_hy, "W_hy", [V, H])) }
            list.append((.b_y, "b_y", [V]))
        }
        var offset = 0
        entries = list.map { tensor, name, dimensions in
            let count = dimensions.reduce(1, *)
            defer { offset += count }
            return Entry(tensor: tensor, name: name, dimensions: dimensions, range: offset..<offset + count)
        }
    }

    /// Total scalars of all tensors.
    public var count: Int { entries.last!.range.upperBound }

    /// The tensor's range, or nil when the model has no such tensor (b_hh.0 of the legacy
    /// tanh RNN, the embedding of a one-hot model, or a layer beyond L−1). W_hy of a tied model
    /// is the embedding's range.
    public func range(of tensor: ModelTensor) -> Range<Int>? {
        let stored = tensor == .W_hy && architecture.tiedWeights ? .embedding : tensor
        return entries.first { $0.tensor == stored }?.range
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }
}

extension ModelLayout {
    /// The ranges of those of `tensors` that the model has, in that order, adjacent ones merged.
    public func mergedRanges(_ tensors: [ModelTensor]) -> [Range<Int>] {
        var merged: [Range<Int>] = []
        for range in tensors.compactMap({ self.range(of: $0) }) {
            if let last = merged.last, last.upperBound == range.lowerBound {
                merged[merged.count - 1] = last.lowerBound..<range.upperBound
            } else {
                merged.append(range)
            }
        }
        return merged
    }
}
