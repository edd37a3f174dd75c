import Buffers
import RNN
import Safetensors

/// A model's tensors under PyTorch's names (DESIGN §2b table), for
/// `model.load_state_dict(safetensors.torch.load_file(path))` on a module with attributes
/// `rnn = nn.RNN/LSTM/GRU(V, H, num_layers=L)` and `fc = nn.Linear(H, V)` fed one-hot input —
/// or, with an embedding, `embedding = nn.Embedding(V, E)` feeding `rnn = nn.…(E, H, …)`.
/// A tied model's one tensor is written twice, as `embedding.weight` and `fc.weight` with the
/// same bits (safetensors cannot alias): a module that ties them (`self.fc.weight =
/// self.embedding.weight`) lists both names in its state_dict, so a strict load_state_dict
/// needs both, and copies the same values into its one parameter.
/// The gate blocks are already in PyTorch's order, so this is renaming alone, bit for bit —
/// except the legacy tanh RNN, whose single bias b_h becomes bias_ih_l0 and whose absent
/// b_hh.0 is written as zeros (PyTorch adds both biases, so the sum is unchanged).
public enum TorchExport {
    /// Which formats `rnn-dist export` writes.
    public enum Format: String, CaseIterable, Sendable {
        case torch
    }

    /// The PyTorch name of a tensor of the model.
    public static func name(of tensor: ModelTensor) -> String {
        switch tensor {
        case .embedding: return "embedding.weight"
        case .W_xh(let l): return "rnn.weight_ih_l\(l)"
        case .W_hh(let l): return "rnn.weight_hh_l\(l)"
        case .b_xh(let l): return "rnn.bias_ih_l\(l)"
        case .b_hh(let l): return "rnn.bias_hh_l\(l)"
        case .W_hy: return "fc.weight"
        case .b_y: return "fc.bias"
        }
    }

    /// The tensors of `parameters` (laid out by `layout`) under PyTorch's names.
    public static func tensors(_ parameters: Buffer<Float>, layout: ModelLayout) -> [String: SafetensorsTensor] {
        var tensors: [String: SafetensorsTensor] = [:]
        for entry in layout.entries {
            tensors[name(of: entry.tensor)] = SafetensorsTensor(buffer: parameters, range: entry.range, shape: entry.dimensions)
        }
        let a = layout.architecture
        if a.tiedWeights, let table = layout.range(of: .embedding) {
            tensors[name(of: .W_hy)] = SafetensorsTensor(buffer: parameters, range: table, shape: [a.vocabularySize, a.hiddenSize])
        }
        if layout.range(of: .b_hh(layer: 0)) == nil {
            let GH = a.cell.gateCount * a.hiddenSize
            tensors[name(of: .b_hh(layer: 0))] = SafetensorsTensor(floats: [Float](repeating: 0, count: GH), shape: [GH])
        }
        return tensors
    }

    /// The export file of `model`: its tensors under PyTorch's names, plus metadata saying
    /// which nn module they fit and the vocabulary (so a reader can map text to one-hot rows).
    public static func file(of model: ModelFile) -> SafetensorsFile {
        let a = model.architecture
        let module: String
        switch a.cell {
        case .rnn: module = "RNN"
        case .lstm: module = "LSTM"
        case .gru: module = "GRU"
        }
        let input = a.embeddingSize.map {
            "nn.Embedding(\(a.vocabularySize), \($0)) as embedding feeding rnn\(a.tiedWeights ? ", fc.weight = embedding.weight (tied)" : "")"
        } ?? "one-hot input"
        var metadata = [
            "format": "pytorch",
            "module": "nn.\(module)(input_size=\(a.inputSize), hidden_size=\(a.hiddenSize), num_layers=\(a.layers)) as rnn, "
                + "nn.Linear(\(a.hiddenSize), \(a.vocabularySize)) as fc, \(input)",
            "cell": a.cell.rawValue,
            "layers": String(a.layers),
            "hidden_size": String(a.hiddenSize),
            "vocabulary_size": String(a.vocabularySize),
            "vocabulary": model.vocabulary.serialized,
        ]
        if let E = a.embeddingSize {
            metadata["embedding_size"] = String(E)
            metadata["tied_weights"] = String(a.tiedWeights)
        }
        return SafetensorsFile(tensors: tensors(model.parameters, layout: model.layout), metadata: metadata)
    }

    /// Writes the export of `model` to `path` atomically (a crash leaves the old file or the
    /// whole new one).
    public static func write(_ model: ModelFile, format: Format, to path: String) throws {
        switch format {
        case .torch: try file(of: model).write(to: path)
        }
    }
}
