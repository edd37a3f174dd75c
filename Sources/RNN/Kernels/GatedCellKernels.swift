import Buffers
import CRecurrence

/// `count` Floats of a buffer from `offset`, checked when a kernel takes them.
public struct FloatSlice {
    public let buffer: Buffer<Float>
    public let offset: Int

    public init(_ buffer: Buffer<Float>, at offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    @inline(__always)
    func pointer(_ count: Int, _ name: StaticString) -> UnsafeMutablePointer<Float> {
        precondition(offset >= 0 && offset + count <= buffer.count, "\(name): \(count) scalars at \(offset) overflow \(buffer.count)")
        return buffer.baseAddress + offset
    }
}

/// What a backward cell step adds to the weight gradients while its rows are in registers
/// (each optional): the bias gradients db_hh, db_xh [G·H] (column sums of the step's rows of
/// ∂L/∂(W_hh h + b_hh) and ∂L/∂(W_xh x + b_xh)), and layer 0's one-hot input gradient:
/// row x_b of dW_xh^T [V, G·H] += row b of ∂L/∂(W_xh x + b_xh), x_b = tokens[tokenOffset + b·tokenStride].
public struct CellGradientSums {
    public var db_hh: FloatSlice?
    public var db_xh: FloatSlice?
    public var inputGradient: (dW_xhT: FloatSlice, vocabularySize: Int, tokens: Buffer<Int32>, tokenOffset: Int, tokenStride: Int)?

    public init(db_hh: FloatSlice? = nil, db_xh: FloatSlice? = nil,
                inputGradient: (dW_xhT: FloatSlice, vocabularySize: Int, tokens: Buffer<Int32>, tokenOffset: Int, tokenStride: Int)? = nil) {
        self.db_hh = db_hh
        self.db_xh = db_xh
        self.inputGradient = inputGradient
    }

    /// Calls body with the C view of these sums for B rows of width GH (bounds and tokens checked).
    @inline(__always)
    func withC<R>(rows B: Int, width GH: Int, _ body: (UnsafePointer<rnn_cell_gradients>) -> R) -> R {
        var c = rnn_cell_gradients(db_hh: db_hh?.pointer(GH, "db_hh"), db_xh: db_xh?.pointer(GH, "db_xh"),
                                   dW_xhT: nil, tokens: nil, token_stride: 0)
        if let input = inputGradient {
            let V = input.vocabularySize
            c.dW_xhT = input.dW_xhT.pointer(V * GH, "dW_xhT")
            precondition(B == 0 || (input.tokenOffset >= 0 && input.tokenOffset + (B - 1) * input.tokenStride < input.tokens.count),
                         "tokens: \(B) rows at \(input.tokenOffset) stride \(input.tokenStride) overflow \(input.tokens.count)")
            for b in 0..<B {
                let x = Int(input.tokens[input.tokenOffset + b * input.tokenStride])
                precondition(x >= 0 && x < V, "input token \(x) outside the vocabulary 0..<\(V)")
            }
            c.tokens = UnsafePointer(input.tokens.baseAddress + input.tokenOffset)
            c.token_stride = input.tokenStride
        }
        return withUnsafePointer(to: &c) { body($0) }
    }
}

/// The element-wise step of the gated cells in Float on one recurrence kernel path: the
/// vectorized loops of CRecurrence's cells.h (one C source compiled per path), over the B rows
/// of one time step, forward and backward side by side. The Double path (gradient checks) is the
/// tests' reference (Tests/RNNReference); both implement DESIGN §2b in PyTorch's gate order, and
/// the tests hold this one to a Double evaluation per element on every path.
///
/// Legend: B rows, H hidden units, G gates (lstm 4: i, f, g, o; gru 3: r, z, n), rows of
/// pre-activations and gates [G·H]. σ(x) = ½ + ½·tanh(x/2) with the rational tanh of the
/// product kernels (error below 3e-7).
public struct GatedCellKernels: Sendable {
    public let kernel: RecurrenceKernel

    public init(kernel: RecurrenceKernel) { self.kernel = kernel }

    /// lstm forward: pre [B, 4H] = xp + h_{t−1}·W_hh^T, b_hh [4H] added here; writes gates
    /// [B, 4H] = (σ(i), σ(f), tanh(g), σ(o)), c = f⊙c_prev + i⊙g, tanhC = tanh(c), h = o⊙tanh(c).
    public func lstmForward(rows B: Int, hidden H: Int, pre: FloatSlice, b_hh: FloatSlice, cPrev: FloatSlice,
                            gates: FloatSlice, c: FloatSlice, tanhC: FloatSlice, h: FloatSlice) {
        let BH = B * H, BGH = 4 * BH
        rnn_lstm_forward(kernel.path.c, Int32(B), Int32(H), pre.pointer(BGH, "pre"), b_hh.pointer(4 * H, "b_hh"),
                         cPrev.pointer(BH, "cPrev"), gates.pointer(BGH, "gates"), c.pointer(BH, "c"),
                         tanhC.pointer(BH, "tanhC"), h.pointer(BH, "h"))
    }

    /// lstm backward: dh [B, H] the total ∂L/∂h_t; dc [B, H] holds ∂L/∂c_t from step t+1 in and
    /// ∂L/∂c_{t−1} out; writes dxp [B, 4H] = ∂L/∂pre (both biases' gradient), adds to `sums` and,
    /// with cNorms, writes ‖∂L/∂c_t‖ of each row.
    public func lstmBackward(rows B: Int, hidden H: Int, dh: FloatSlice, dc: FloatSlice, gates: FloatSlice,
                             cPrev: FloatSlice, tanhC: FloatSlice, dxp: FloatSlice, sums: CellGradientSums? = nil,
                             cNorms: UnsafeMutablePointer<Double>? = nil) {
        let BH = B * H, BGH = 4 * BH
        let run = { (sums: UnsafePointer<rnn_cell_gradients>?) in
            rnn_lstm_backward(kernel.path.c, Int32(B), Int32(H), dh.pointer(BH, "dh"), dc.pointer(BH, "dc"),
                              gates.pointer(BGH, "gates"), cPrev.pointer(BH, "cPrev"), tanhC.pointer(BH, "tanhC"),
                              dxp.pointer(BGH, "dxp"), sums, cNorms)
        }
        if let sums { sums.withC(rows: B, width: 4 * H, run) } else { run(nil) }
    }

    /// gru forward: xp [B, 3H], hp [B, 3H] = h_{t−1}·W_hh^T, b_hh [3H]; writes gates [B, 3H] =
    /// (r, z, n), hn = hp_n + b_hn and h = (1−z)⊙n + z⊙h_prev, each [B, H].
    public func gruForward(rows B: Int, hidden H: Int, xp: FloatSlice, hp: FloatSlice, b_hh: FloatSlice,
                           hPrev: FloatSlice, gates: FloatSlice, hn: FloatSlice, h: FloatSlice) {
        let BH = B * H, BGH = 3 * BH
        rnn_gru_forward(kernel.path.c, Int32(B), Int32(H), xp.pointer(BGH, "xp"), hp.pointer(BGH, "hp"),
                        b_hh.pointer(3 * H, "b_hh"), hPrev.pointer(BH, "hPrev"), gates.pointer(BGH, "gates"),
                        hn.pointer(BH, "hn"), h.pointer(BH, "h"))
    }

    /// gru backward: dh [B, H] the total ∂L/∂h_t; writes dxp [B, 3H] = ∂L/∂xp and dhp [B, 3H] =
    /// ∂L/∂(hp + b_hh), adds to `sums`; adds the direct path z⊙dh to dhPrev [B, H] when given.
    public func gruBackward(rows B: Int, hidden H: Int, dh: FloatSlice, gates: FloatSlice, hn: FloatSlice,
                            hPrev: FloatSlice, dxp: FloatSlice, dhp: FloatSlice, dhPrev: FloatSlice?,
                            sums: CellGradientSums? = nil) {
        let BH = B * H, BGH = 3 * BH
        let run = { (sums: UnsafePointer<rnn_cell_gradients>?) in
            rnn_gru_backward(kernel.path.c, Int32(B), Int32(H), dh.pointer(BH, "dh"), gates.pointer(BGH, "gates"),
                             hn.pointer(BH, "hn"), hPrev.pointer(BH, "hPrev"), dxp.pointer(BGH, "dxp"),
                             dhp.pointer(BGH, "dhp"), dhPrev?.pointer(BH, "dhPrev"), sums)
        }
        if let sums { sums.withC(rows: B, width: 3 * H, run) } else { run(nil) }
    }
}
