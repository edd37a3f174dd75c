import Buffers
import RNN
import Safetensors
import RunErrors

/// The parameter tensors of a model (DESIGN §2 and §2b names and shapes: the tanh RNN's five,
/// or W_xh.l, W_hh.l, b_xh.l, b_hh.l, W_hy, b_y) in a safetensors file: what `--save` writes
/// and `--init` reads. Any safetensors reader loads it; a file made elsewhere (PyTorch, NumPy)
/// works as `--init` if its names and shapes match.
public enum ParameterFile {
    /// The tensors of `parameters` cut by `layout`, for a safetensors file.
    public static func tensors(_ parameters: Buffer<Float>, layout: ModelLayout, prefix: String = "") -> [String: SafetensorsTensor] {
        var tensors: [String: SafetensorsTensor] = [:]
        for entry in layout.entries {
            tensors[prefix + entry.name] = SafetensorsTensor(buffer: parameters, range: entry.range, shape: entry.dimensions)
        }
        return tensors
    }

    public static func save(path: String, parameters: Buffer<Float>, layout: ModelLayout, metadata: [String: String]) throws {
        try SafetensorsFile(tensors: tensors(parameters, layout: layout), metadata: metadata).write(to: path)
    }

    /// Copies the tensors of `file` (optionally under `prefix`) into `destination`, checking
    /// every name and shape against `layout`.
    public static func copy(from file: SafetensorsFile, source: String, prefix: String = "",
                            layout: ModelLayout, into destination: Buffer<Float>) throws {
        let a = layout.architecture
        for entry in layout.entries {
            let key = prefix + entry.name
            guard let tensor = file.tensors[key] else {
                throw RunError.badInput("\(source) has no tensor '\(key)' (it has: \(file.tensors.keys.sorted().joined(separator: ", ")))")
            }
            guard tensor.shape == entry.dimensions else {
                throw RunError.badInput("\(source): tensor '\(key)' has shape \(tensor.shape), the model needs \(entry.dimensions) "
                    + "(\(a.cell) L=\(a.layers) H=\(a.hiddenSize)\(a.embeddingSize.map { " E=\($0)" } ?? ""), V=\(a.vocabularySize))")
            }
            let values = try tensor.floats()
            guard values.allSatisfy(\.isFinite) else {
                throw RunError.badInput("\(source): tensor '\(key)' holds NaN or infinite values")
            }
            destination.copy(from: values, at: entry.range.lowerBound)
        }
    }

    public static func load(path: String, layout: ModelLayout, into destination: Buffer<Float>) throws {
        try copy(from: try SafetensorsFile.read(path: path), source: path, layout: layout, into: destination)
    }
}
