import BLAS
import Buffers
#if canImport(Glibc)
import Glibc
#endif

public enum InitializationScheme: String, CaseIterable, Codable, Sendable {
    /// Every tensor uniform(-1/√H, 1/√H), as torch.nn.RNN/LSTM/GRU and nn.Linear(H→V) do; an
    /// untied embedding N(0, 1), as torch.nn.Embedding; a tied one uniform(-1/√H, 1/√H), as
    /// the nn.Linear(H→V) it also is (N(0, 1) output weights would start the logits at a
    /// spread of ~√H·|h|, a loss far above log V).
    case torch
    /// Weights randn·0.01 (the embedding too), biases 0, as Karpathy's min-char-rnn.py.
    case minCharRNN = "min-char-rnn"
}

/// How the gate biases start, after the scheme's draw. The same for every cell; the tanh RNN
/// has no gate, so neither case changes it.
public enum GateInitialization: Equatable, Sendable {
    /// b added to b_xh.l of the keep gate (the LSTM forget gate, the GRU update gate) and −b to
    /// the LSTM's input gate; 0 is the scheme's draw alone (`gate-bias`).
    case shift(Double)
    /// Chrono initialization (Tallec & Ollivier, ICLR 2018) for dependencies up to T_max steps:
    /// each unit's keep-gate bias is log(u), u ~ U[1, T_max − 1] drawn per unit, so the unit
    /// keeps its state for about 1 + u steps (1/(1 − σ(log u)) = 1 + u): a spread of memory
    /// lengths from 2 to T_max instead of one. The LSTM's input gate gets −log(u) (the paper's
    /// b_i = −b_f: what a unit writes shrinks as it keeps longer, so c stays ≈ g). The paper's
    /// single gated cell h' = g ⊙ tanh(…) + (1 − g) ⊙ h maps onto the GRU with g = 1 − z, so z
    /// (the keep gate here as in PyTorch) gets +log(u) like the LSTM's f, and its write 1 − z
    /// needs no second gate. The paper has one bias per gate; PyTorch has two (b_xh, b_hh), so
    /// the value goes to b_xh.l and b_hh.l's block is 0: the total bias is exactly the draw.
    case chrono(maxDelay: Int)

    /// What a cell starts with, for the run header: "forget gate +3, input gate −3".
    public func summary(for cell: CellKind) -> String {
        guard let keep = cell.keepGateName else { return "no gate (unchanged)" }
        switch self {
        case .shift(let b) where b == 0: return "\(keep) gate bias as drawn"
        case .shift(let b):
            let shift = "\(keep) gate \(b > 0 ? "+" : "−")\(abs(b))"
            return cell.writeGateName.map { "\(shift), \($0) gate \(b > 0 ? "−" : "+")\(abs(b))" } ?? shift
        case .chrono(let maxDelay):
            let chrono = "chrono T_max \(maxDelay): \(keep) gate bias log U[1, \(maxDelay - 1)]"
            return cell.writeGateName.map { "\(chrono), \($0) gate its negative" } ?? chrono
        }
    }
}

extension CellKind {
    fileprivate var keepGateName: String? {
        switch self {
        case .rnn: return nil
        case .lstm: return "forget"
        case .gru: return "update"
        }
    }

    fileprivate var writeGateName: String? { writeGate.map { _ in "input" } }
}

/// Fills a flat parameter buffer deterministically from a seed. The draws are made in
/// Double in layout order, so Float and Double buffers get the same values up to rounding.
public enum ParameterInitializer {
    /// Any architecture, in `layout` order.
    ///
    /// `gates` then sets the gate biases (see GateInitialization). `.shift(b)` adds b to the
    /// bias b_xh.l of every layer's keep gate (the LSTM forget gate, the GRU update gate; see
    /// `CellKind.keepGate`), so that a gated cell starts out carrying its state: σ(3) ≈ 0.95 of
    /// it survives a step and 0.95^40 ≈ 0.13 survives 40, where σ(0)^40 = 0.5^40 ≈ 10⁻¹² does not
    /// (Jozefowicz et al. 2015 use b = 1). The LSTM's input gate gets −b: c_t = f ⊙ c_{t−1} + i ⊙ g
    /// settles near i·g/(1 − f), which stays ≈ g with i = 1 − f but grows to ≈ 10 g (tanh(c)
    /// saturated, its gradient gone) with i = 0.5, f = 0.95; the GRU's convex
    /// h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} needs no such counterpart. `.chrono` draws its values
    /// after every other one, from the same generator, so the run's seed decides them (the same
    /// on every rank) and every other value is the same as without it; `.shift` draws nothing.
    public static func initialize<T: BLASScalar>(
        _ parameters: Buffer<T>, layout: ModelLayout, scheme: InitializationScheme, seed: UInt64,
        gates: GateInitialization = .shift(0)
    ) {
        precondition(parameters.count == layout.count,
                     "parameter buffer has \(parameters.count) scalars, layout needs \(layout.count)")
        var generator = SeededGenerator(seed: seed)
        let bound = 1.0 / Double(layout.architecture.hiddenSize).squareRoot()
        for entry in layout.entries {
            let isBias = entry.dimensions.count == 1
            let isGaussianTable = entry.tensor == .embedding && !layout.architecture.tiedWeights
            for index in entry.range {
                let value: Double
                switch scheme {
                case .torch where isGaussianTable: value = generator.nextGaussian()
                case .torch: value = (2 * generator.nextUniform() - 1) * bound
                case .minCharRNN: value = isBias ? 0 : 0.01 * generator.nextGaussian()
                }
                parameters.baseAddress[index] = T(value)
            }
        }
        let cell = layout.architecture.cell
        guard let keep = cell.keepGate else { return }
        let H = layout.architecture.hiddenSize
        func block(_ tensor: ModelTensor, gate: Int) -> Range<Int>? {
            guard let range = layout.range(of: tensor) else { return nil }
            return range.lowerBound + gate * H ..< range.lowerBound + (gate + 1) * H
        }
        for l in 0..<layout.architecture.layers {
            guard let keepBias = block(.b_xh(layer: l), gate: keep) else { continue }
            let writeBias = cell.writeGate.flatMap { block(.b_xh(layer: l), gate: $0) }
            switch gates {
            case .shift(let b):
                guard b != 0 else { continue }
                for index in keepBias { parameters.baseAddress[index] = T(Double(parameters.baseAddress[index]) + b) }
                for index in writeBias ?? 0..<0 { parameters.baseAddress[index] = T(Double(parameters.baseAddress[index]) - b) }
            case .chrono(let maxDelay):
                precondition(maxDelay >= 2, "chrono needs T_max >= 2, got \(maxDelay)")
                for gate in [keep] + (cell.writeGate.map { [$0] } ?? []) {
                    for index in block(.b_hh(layer: l), gate: gate) ?? 0..<0 { parameters.baseAddress[index] = 0 }
                }
                for j in 0..<H {
                    let b = log(1 + generator.nextUniform() * Double(maxDelay - 2))
                    parameters.baseAddress[keepBias.lowerBound + j] = T(b)
                    if let writeBias { parameters.baseAddress[writeBias.lowerBound + j] = T(-b) }
                }
            }
        }
    }
}
