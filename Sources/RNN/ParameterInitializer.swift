import BLAS
import Buffers

public enum InitializationScheme: String, CaseIterable, Codable, Sendable {
    /// Every tensor uniform(-1/√H, 1/√H), as torch.nn.RNN/LSTM/GRU and nn.Linear(H→V) do.
    case torch
    /// Weights randn·0.01, biases 0, as Karpathy's min-char-rnn.py.
    case minCharRNN = "min-char-rnn"
}

/// Fills a flat parameter buffer deterministically from a seed. The draws are made in
/// Double in layout order, so Float and Double buffers get the same values up to rounding.
public enum ParameterInitializer {
    public static func initialize<T: BLASScalar>(
        _ parameters: Buffer<T>, layout: ParameterLayout, scheme: InitializationScheme, seed: UInt64
    ) {
        initialize(parameters, layout: ModelLayout(architecture: ModelArchitecture(shape: layout.shape)),
                   scheme: scheme, seed: seed)
    }

    /// Any architecture; the legacy tanh RNN's layout has the same order, so it draws the
    /// same values as the ParameterLayout overload.
    public static func initialize<T: BLASScalar>(
        _ parameters: Buffer<T>, layout: ModelLayout, scheme: InitializationScheme, seed: UInt64
    ) {
        precondition(parameters.count == layout.count,
                     "parameter buffer has \(parameters.count) scalars, layout needs \(layout.count)")
        var generator = SeededGenerator(seed: seed)
        let bound = 1.0 / Double(layout.architecture.hiddenSize).squareRoot()
        for entry in layout.entries {
            let isBias = entry.dimensions.count == 1
            for index in entry.range {
                let value: Double
                switch scheme {
                case .torch: value = (2 * generator.nextUniform() - 1) * bound
                case .minCharRNN: value = isBias ? 0 : 0.01 * generator.nextGaussian()
                }
                parameters.baseAddress[index] = T(value)
            }
        }
    }
}
