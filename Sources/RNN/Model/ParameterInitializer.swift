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
    /// Any architecture, in `layout` order.
    ///
    /// `gateBias` b is then added to the bias b_xh.l of every layer's keep gate (the LSTM forget
    /// gate, the GRU update gate; see `CellKind.keepGate`), so that a gated cell starts out
    /// carrying its state: σ(3) ≈ 0.95 of it survives a step and 0.95^40 ≈ 0.13 survives 40,
    /// where σ(0)^40 = 0.5^40 ≈ 10⁻¹² (Jozefowicz et al. 2015 use b = 1). The LSTM's input gate
    /// gets −b: c_t = f ⊙ c_{t−1} + i ⊙ g settles near i·g/(1 − f), which stays ≈ g with
    /// i = 1 − f but grows to ≈ 10 g (tanh(c) saturated, its gradient gone) with i = 0.5, f = 0.95;
    /// the GRU's convex h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} needs no such counterpart (as in the
    /// chrono initialization of Tallec & Ollivier 2018, with one b instead of a spread).
    /// It draws nothing, so every other value is the same as without it; the tanh RNN has no
    /// gate and ignores it.
    public static func initialize<T: BLASScalar>(
        _ parameters: Buffer<T>, layout: ModelLayout, scheme: InitializationScheme, seed: UInt64,
        gateBias: Double = 0
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
        let cell = layout.architecture.cell
        guard gateBias != 0, let keep = cell.keepGate else { return }
        let H = layout.architecture.hiddenSize
        for l in 0..<layout.architecture.layers {
            guard let bias = layout.range(of: .b_xh(layer: l)) else { continue }
            for (gate, shift) in [(keep, gateBias)] + (cell.writeGate.map { [($0, -gateBias)] } ?? []) {
                for index in bias.lowerBound + gate * H ..< bias.lowerBound + (gate + 1) * H {
                    parameters.baseAddress[index] = T(Double(parameters.baseAddress[index]) + shift)
                }
            }
        }
    }
}
