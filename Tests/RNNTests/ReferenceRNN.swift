import Foundation
import RNN
import RNNReference

/// An independent, deliberately naive forward pass in Double: plain loops over the math of
/// docs/design.md §2, one sequence at a time, no BLAS, no transposed copies (llm.c-style reference).
struct ReferenceRNN {
    let shape: RNNShape
    let W_xh, W_hh, W_hy, b_h, b_y: [Double]

    init(parameters: [Double], shape: RNNShape) {
        self.shape = shape
        let layout = tanhLayout(shape)
        func slice(_ name: String) -> [Double] { Array(parameters[layout.entry(named: name)!.range]) }
        (W_xh, W_hh, W_hy, b_h, b_y) = (slice("W_xh"), slice("W_hh"), slice("W_hy"), slice("b_h"), slice("b_y"))
    }

    struct Output {
        var loss = 0.0                       // Σ -log p[target] over all tokens
        var probabilities: [[[Double]]] = [] // [b][t][V]
        var finalHidden: [[Double]] = []     // [b][H]
    }

    /// inputs/targets batch-major [B·T]; h0: [B][H] or nil for zeros.
    func forward(inputs: [Int32], targets: [Int32], batchSize B: Int, sequenceLength T: Int,
                 initialHidden h0: [[Double]]? = nil) -> Output {
        let H = shape.hiddenSize, V = shape.vocabularySize
        var out = Output()
        for b in 0..<B {
            var h = h0?[b] ?? [Double](repeating: 0, count: H)
            var sequenceProbabilities: [[Double]] = []
            for t in 0..<T {
                let x = Int(inputs[b * T + t])
                var hNew = [Double](repeating: 0, count: H)
                for i in 0..<H {
                    var a = W_xh[i * V + x] + b_h[i]
                    for j in 0..<H { a += W_hh[i * H + j] * h[j] }
                    hNew[i] = tanh(a)
                }
                h = hNew
                var y = [Double](repeating: 0, count: V)
                for k in 0..<V {
                    y[k] = b_y[k]
                    for i in 0..<H { y[k] += W_hy[k * H + i] * h[i] }
                }
                let total = y.map { exp($0) }.reduce(0, +)   // no max-subtraction: small test logits
                let p = y.map { exp($0) / total }
                out.loss += -log(p[Int(targets[b * T + t])])
                sequenceProbabilities.append(p)
            }
            out.probabilities.append(sequenceProbabilities)
            out.finalHidden.append(h)
        }
        return out
    }
}
