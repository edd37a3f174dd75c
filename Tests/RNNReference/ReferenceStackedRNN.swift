import Foundation
import RNN

/// An independent, deliberately plain forward and backward pass of DESIGN §2b in Double: one
/// sequence at a time, one step at a time, scalar loops over the rows of the tensors as the
/// equations write them. No BLAS, no batching, no transposed copies, no shared kernels.
public struct ReferenceStackedRNN {
    public let architecture: ModelArchitecture
    public let layout: ModelLayout
    public let parameters: [Double]

    public init(architecture: ModelArchitecture, parameters: [Double]) {
        self.architecture = architecture
        layout = ModelLayout(architecture: architecture)
        precondition(parameters.count == layout.count)
        self.parameters = parameters
    }

    /// The tensor's values, or zeros for a tensor the model does not have (b_hh.0 of the
    /// legacy tanh RNN).
    public func tensor(_ t: ModelTensor, count: Int) -> [Double] {
        layout.range(of: t).map { Array(parameters[$0]) } ?? [Double](repeating: 0, count: count)
    }

    public struct Result {
        public var loss = 0.0
        public var gradient: [Double]
        public var finalH: [[[Double]]]    // [layer][b][H]
        public var finalC: [[[Double]]]    // [layer][b][H], lstm only
    }

    /// A nudge of one unit of h_t (or, lstm, c_t, which h_t = o⊙tanh(c_t) then sees) of one
    /// layer and sequence, as soon as the step computed it: finite differences of it give
    /// the total ∂L/∂h_t (∂L/∂c_t) that backpropagation computes.
    public struct Nudge {
        public var layer, t, b, unit: Int
        public var delta: Double
        public var cellState = false

        public init(layer: Int, t: Int, b: Int, unit: Int, delta: Double, cellState: Bool = false) {
            (self.layer, self.t, self.b, self.unit, self.delta, self.cellState) = (layer, t, b, unit, delta, cellState)
        }
    }

    /// inputs/targets batch-major [B·T]; h0/c0 [layer][b][H] or nil; mask(l, t, b, j) the
    /// dropout factor of unit j of layer l's output (1 without dropout); embeddingMask(x) the
    /// embedding-dropout factor of token x's row (1 without). With lossStep, the loss counts
    /// that step only (and the gradient is not meaningful).
    ///
    /// With an embedding, layer 0 reads e = embeddingMask(x)·embedding[x] [E] through W_xh.0
    /// [GH, E] like an upper layer reads the layer below, and ∂L/∂embedding[x] collects
    /// embeddingMask(x)·∂L/∂e at every use of x; tied, W_hy is the embedding and the one
    /// tensor's gradient is the sum of its two uses'.
    public func run(inputs: [Int32], targets: [Int32], batchSize B: Int, sequenceLength T: Int,
             h0: [[[Double]]]?, c0: [[[Double]]]?, tokenCount: Int,
             mask: (Int, Int, Int, Int) -> Double = { _, _, _, _ in 1 },
             embeddingMask: (Int) -> Double = { _ in 1 },
             nudge: Nudge? = nil, lossStep: Int? = nil) -> Result {
        let L = architecture.layers, H = architecture.hiddenSize, V = architecture.vocabularySize
        let cell = architecture.cell, G = cell.gateCount, GH = G * H
        let E = architecture.embeddingSize, width0 = architecture.inputSize
        func σ(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        let embedding = tensor(.embedding, count: V * (E ?? 0))
        var dEmbedding = embedding.map { _ in 0.0 }
        let W_xh = (0..<L).map { tensor(.W_xh(layer: $0), count: GH * ($0 == 0 ? width0 : H)) }
        let W_hh = (0..<L).map { tensor(.W_hh(layer: $0), count: GH * H) }
        let b_xh = (0..<L).map { tensor(.b_xh(layer: $0), count: GH) }
        let b_hh = (0..<L).map { tensor(.b_hh(layer: $0), count: GH) }
        let W_hy = tensor(.W_hy, count: V * H), b_y = tensor(.b_y, count: V)
        var dW_xh = W_xh.map { $0.map { _ in 0.0 } }, dW_hh = W_hh.map { $0.map { _ in 0.0 } }
        var db_xh = b_xh.map { $0.map { _ in 0.0 } }, db_hh = b_hh.map { $0.map { _ in 0.0 } }
        var dW_hy = W_hy.map { _ in 0.0 }, db_y = b_y.map { _ in 0.0 }
        let zero = [Double](repeating: 0, count: H)
        var result = Result(gradient: [], finalH: Array(repeating: [], count: L), finalC: Array(repeating: [], count: L))

        for b in 0..<B {
            // Per (t, l): what the step read and computed.
            struct Step { var input: [Double] = []; var hPrev: [Double] = []; var cPrev: [Double] = []
                          var gates: [Double] = []; var hn: [Double] = []; var c: [Double] = []; var h: [Double] = [] }
            var steps = [[Step]](repeating: [Step](repeating: Step(), count: L), count: T)
            var h = (0..<L).map { h0?[$0][b] ?? zero }, c = (0..<L).map { c0?[$0][b] ?? zero }
            var outputs = [[Double]](repeating: [], count: T)     // the dropped top h_t
            for t in 0..<T {
                let x = Int(inputs[b * T + t])
                // Layer l's input (l > 0, or layer 0 with an embedding).
                var input: [Double] = E.map { E in (0..<E).map { embeddingMask(x) * embedding[x * E + $0] } } ?? []
                for l in 0..<L {
                    var s = Step(input: input, hPrev: h[l], cPrev: c[l])
                    // Pre-activations: wx = W_xh.l x + b_xh.l, wh = W_hh.l h + b_hh.l, per gate row k.
                    var wx = [Double](repeating: 0, count: GH), wh = [Double](repeating: 0, count: GH)
                    for k in 0..<GH {
                        if l == 0 && E == nil {
                            wx[k] = W_xh[0][k * V + x] + b_xh[0][k]
                        } else {
                            wx[k] = b_xh[l][k]
                            for j in 0..<input.count { wx[k] += W_xh[l][k * input.count + j] * input[j] }
                        }
                        wh[k] = b_hh[l][k]
                        for j in 0..<H { wh[k] += W_hh[l][k * H + j] * h[l][j] }
                    }
                    var hNew = zero, cNew = zero
                    switch cell {
                    case .rnn:
                        for j in 0..<H { hNew[j] = tanh(wx[j] + wh[j]) }
                    case .lstm:
                        s.gates = [Double](repeating: 0, count: GH)
                        for j in 0..<H {
                            let i = σ(wx[j] + wh[j]), f = σ(wx[H + j] + wh[H + j])
                            let g = tanh(wx[2 * H + j] + wh[2 * H + j]), o = σ(wx[3 * H + j] + wh[3 * H + j])
                            cNew[j] = f * c[l][j] + i * g
                            if let nudge, nudge.cellState, (nudge.layer, nudge.t, nudge.b, nudge.unit) == (l, t, b, j) {
                                cNew[j] += nudge.delta
                            }
                            hNew[j] = o * tanh(cNew[j])
                            (s.gates[j], s.gates[H + j], s.gates[2 * H + j], s.gates[3 * H + j]) = (i, f, g, o)
                        }
                    case .gru:
                        s.gates = [Double](repeating: 0, count: GH)
                        s.hn = Array(wh[2 * H..<3 * H])
                        for j in 0..<H {
                            let r = σ(wx[j] + wh[j]), z = σ(wx[H + j] + wh[H + j])
                            let n = tanh(wx[2 * H + j] + r * wh[2 * H + j])
                            hNew[j] = (1 - z) * n + z * h[l][j]
                            (s.gates[j], s.gates[H + j], s.gates[2 * H + j]) = (r, z, n)
                        }
                    }
                    if let nudge, !nudge.cellState, (nudge.layer, nudge.t, nudge.b) == (l, t, b) {
                        hNew[nudge.unit] += nudge.delta
                    }
                    (s.h, s.c, h[l], c[l]) = (hNew, cNew, hNew, cNew)
                    steps[t][l] = s
                    input = (0..<H).map { hNew[$0] * mask(l, t, b, $0) }
                }
                outputs[t] = input
            }
            for l in 0..<L { result.finalH[l].append(h[l]); result.finalC[l].append(c[l]) }

            // Backward, t = T−1…0, and within a step from the top layer down.
            var dhNext = [[Double]](repeating: zero, count: L), dcNext = dhNext
            for t in stride(from: T - 1, through: 0, by: -1) {
                var y = b_y
                for k in 0..<V { for j in 0..<H { y[k] += W_hy[k * H + j] * outputs[t][j] } }
                let total = y.map { exp($0) }.reduce(0, +)
                let p = y.map { exp($0) / total }
                let target = Int(targets[b * T + t])
                if lossStep == nil || lossStep == t { result.loss -= log(p[target]) }
                var dOut = zero
                for k in 0..<V {
                    let dy = (p[k] - (k == target ? 1 : 0)) / Double(tokenCount)
                    db_y[k] += dy
                    for j in 0..<H { dW_hy[k * H + j] += dy * outputs[t][j]; dOut[j] += W_hy[k * H + j] * dy }
                }
                for l in stride(from: L - 1, through: 0, by: -1) {
                    let s = steps[t][l]
                    let dh = (0..<H).map { dOut[$0] * mask(l, t, b, $0) + dhNext[l][$0] }
                    var dwx = [Double](repeating: 0, count: GH), dwh = dwx, dhPrev = zero, dcPrev = zero
                    switch cell {
                    case .rnn:
                        for j in 0..<H { dwx[j] = dh[j] * (1 - s.h[j] * s.h[j]); dwh[j] = dwx[j] }
                    case .lstm:
                        for j in 0..<H {
                            let (i, f, g, o) = (s.gates[j], s.gates[H + j], s.gates[2 * H + j], s.gates[3 * H + j])
                            let tanhC = tanh(s.c[j])
                            let dc = dcNext[l][j] + dh[j] * o * (1 - tanhC * tanhC)
                            dwx[j] = dc * g * i * (1 - i)
                            dwx[H + j] = dc * s.cPrev[j] * f * (1 - f)
                            dwx[2 * H + j] = dc * i * (1 - g * g)
                            dwx[3 * H + j] = dh[j] * tanhC * o * (1 - o)
                            dcPrev[j] = dc * f
                        }
                        dwh = dwx
                    case .gru:
                        for j in 0..<H {
                            let (r, z, n) = (s.gates[j], s.gates[H + j], s.gates[2 * H + j])
                            let dnPre = dh[j] * (1 - z) * (1 - n * n)
                            let drPre = dnPre * s.hn[j] * r * (1 - r)
                            let dzPre = dh[j] * (s.hPrev[j] - n) * z * (1 - z)
                            (dwx[j], dwx[H + j], dwx[2 * H + j]) = (drPre, dzPre, dnPre)
                            (dwh[j], dwh[H + j], dwh[2 * H + j]) = (drPre, dzPre, dnPre * r)
                            dhPrev[j] = dh[j] * z
                        }
                    }
                    var dInput = [Double](repeating: 0, count: s.input.count)
                    for k in 0..<GH {
                        db_xh[l][k] += dwx[k]
                        db_hh[l][k] += dwh[k]
                        if l == 0 && E == nil {
                            dW_xh[0][k * V + Int(inputs[b * T + t])] += dwx[k]
                        } else {
                            let n = s.input.count
                            for j in 0..<n { dW_xh[l][k * n + j] += dwx[k] * s.input[j]; dInput[j] += W_xh[l][k * n + j] * dwx[k] }
                        }
                        for j in 0..<H { dW_hh[l][k * H + j] += dwh[k] * s.hPrev[j]; dhPrev[j] += W_hh[l][k * H + j] * dwh[k] }
                    }
                    (dhNext[l], dcNext[l], dOut) = (dhPrev, dcPrev, dInput)
                }
                if let E {
                    let x = Int(inputs[b * T + t])
                    for j in 0..<E { dEmbedding[x * E + j] += embeddingMask(x) * dOut[j] }
                }
            }
        }
        var gradient = [Double](repeating: .nan, count: layout.count)
        func put(_ t: ModelTensor, _ values: [Double]) {
            guard let range = layout.range(of: t) else { return }
            gradient.replaceSubrange(range, with: values)
        }
        for l in 0..<L {
            put(.W_xh(layer: l), dW_xh[l]); put(.W_hh(layer: l), dW_hh[l])
            put(.b_xh(layer: l), db_xh[l]); put(.b_hh(layer: l), db_hh[l])
        }
        if architecture.tiedWeights {
            put(.embedding, zip(dEmbedding, dW_hy).map { $0 + $1 })
        } else {
            put(.embedding, dEmbedding); put(.W_hy, dW_hy)
        }
        put(.b_y, db_y)
        result.gradient = gradient
        return result
    }
}
