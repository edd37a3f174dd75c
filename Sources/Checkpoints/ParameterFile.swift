import Buffers
import RNN
import Safetensors
import RunErrors

/// The five parameter tensors (docs/design.md §2 names and shapes) in a safetensors file: what
/// `--save` writes and `--init` reads. Any safetensors reader loads it; a file made elsewhere
/// (PyTorch, NumPy) works as `--init` if its names and shapes match.
public enum ParameterFile {
    /// The tensors of `parameters` cut by `layout`, for a safetensors file.
    public static func tensors(_ parameters: Buffer<Float>, layout: ParameterLayout, prefix: String = "") -> [String: SafetensorsTensor] {
        var tensors: [String: SafetensorsTensor] = [:]
        for name in ParameterName.allCases {
            tensors[prefix + name.rawValue] = SafetensorsTensor(buffer: parameters, range: layout.range(of: name),
                                                                shape: layout.dimensions(of: name))
        }
        return tensors
    }

    public static func save(path: String, parameters: Buffer<Float>, layout: ParameterLayout, metadata: [String: String]) throws {
        try SafetensorsFile(tensors: tensors(parameters, layout: layout), metadata: metadata).write(to: path)
    }

    /// Copies the five tensors of `file` (optionally under `prefix`) into `destination`,
    /// checking every name and shape against `layout`.
    public static func copy(from file: SafetensorsFile, source: String, prefix: String = "",
                            layout: ParameterLayout, into destination: Buffer<Float>) throws {
        for name in ParameterName.allCases {
            let key = prefix + name.rawValue
            guard let tensor = file.tensors[key] else {
                throw RunError.badInput("\(source) has no tensor '\(key)' (it has: \(file.tensors.keys.sorted().joined(separator: ", ")))")
            }
            let expected = layout.dimensions(of: name)
            guard tensor.shape == expected else {
                throw RunError.badInput("\(source): tensor '\(key)' has shape \(tensor.shape), the model needs \(expected) "
                    + "(H=\(layout.shape.hiddenSize), V=\(layout.shape.vocabularySize))")
            }
            let values = try tensor.floats()
            guard values.allSatisfy(\.isFinite) else {
                throw RunError.badInput("\(source): tensor '\(key)' holds NaN or infinite values")
            }
            destination.copy(from: values, at: layout.range(of: name).lowerBound)
        }
    }

    public static func load(path: String, layout: ParameterLayout, into destination: Buffer<Float>) throws {
        try copy(from: try SafetensorsFile.read(path: path), source: path, layout: layout, into: destination)
    }
}
