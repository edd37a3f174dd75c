import BLAS
import Buffers
import CRecurrence

/// W_hh [G·H, H] (row-major, as in the parameters) packed into the panels that one of the two
/// per-step products streams, for one kernel path. Allocated once; `pack` refreshes it from
/// the parameters (O(G·H²), once per forward/backward call against O(T·B·G·H²) of products).
/// With the BLAS's products (`RecurrenceProducts.blas`) it holds W_hh as it is, sgemm computes
/// each step's product and the kernel's vector path then applies the epilogue alone.
/// Dimension legend: B rows (sequences) of a step, H hidden units, G gates (1 rnn, 3 gru, 4 lstm).
public final class PackedRecurrentWeights {
    /// Which product the panels serve.
    public enum Product: Sendable {
        /// a[B, G·H] (+)= h[B, H] · W_hh^T  (the forward recurrence)
        case forward
        /// dh[B, H] (+)= da[B, G·H] · W_hh  (the backward recurrence)
        case backward
    }

    /// What the forward product does to a after accumulating.
    public enum ForwardEpilogue: Sendable {
        /// a += h·W^T (gated cells apply their gates afterwards).
        case accumulate
        /// a = tanh(a + h·W^T), a holding the gathered input column + bias before (tanh cell).
        case tanh
    }

    /// What the backward product does to dh after accumulating.
    public enum BackwardEpilogue {
        /// dh += da·W.
        case accumulate
        /// dh += da·W, then dh becomes da_t = (1 − h²) ⊙ dh, h being h_t: [B, H] rows of
        /// `hidden` from `offset` (tanh cell).
        case tanhDerivative(hidden: Buffer<Float>, offset: Int)
    }

    public let kernel: RecurrenceKernel
    /// What the products run: the kernel's, except that the tuner drives one packing at both
    /// depths (the panels do not depend on the depth) to time them without a second copy.
    var products: RecurrenceProducts
    public let product: Product
    public let gates: Int
    public let hiddenSize: Int
    /// The product's K (depth) and N (columns of its result).
    private let depth: Int, columns: Int
    private let panels: Buffer<Float>
    private var isPacked = false

    public init(kernel: RecurrenceKernel, product: Product, gates: Int, hiddenSize: Int) {
        precondition(gates > 0 && hiddenSize > 0, "PackedRecurrentWeights needs gates > 0 and hiddenSize > 0")
        self.kernel = kernel
        products = kernel.products
        self.product = product
        self.gates = gates
        self.hiddenSize = hiddenSize
        let GH = gates * hiddenSize
        (depth, columns) = product == .forward ? (hiddenSize, GH) : (GH, hiddenSize)
        switch kernel.products {
        case .packed: panels = Buffer(count: rnn_recurrence_packed_count(kernel.path.c, Int32(columns), Int32(depth)), repeating: 0)
        case .blas: panels = Buffer(count: GH * hiddenSize, repeating: 0)
        }
    }

    /// Packs W_hh, the G·H × H scalars of `weights` from `offset`.
    public func pack(_ weights: Buffer<Float>, offset: Int) {
        precondition(offset >= 0 && offset + gates * hiddenSize * hiddenSize <= weights.count,
                     "pack: W_hh [\(gates * hiddenSize), \(hiddenSize)] at \(offset) overflows \(weights.count) scalars")
        switch kernel.products {
        case .packed:
            rnn_recurrence_pack(kernel.path.c, Int32(columns), Int32(depth), weights.baseAddress + offset,
                                hiddenSize, product == .forward ? 1 : 0, panels.baseAddress)
        case .blas:
            panels.baseAddress.update(from: weights.baseAddress + offset, count: panels.count)
        }
        isPacked = true
    }

    /// The forward product of one step: a[B, G·H] at aOffset (+)= h[B, H] at hOffset · W_hh^T.
    /// a and h may be the same buffer (disjoint ranges).
    public func forward(h: Buffer<Float>, hOffset: Int, rows B: Int, into a: Buffer<Float>, aOffset: Int,
                        epilogue: ForwardEpilogue) {
        precondition(product == .forward, "forward(h:...) needs weights packed for the forward product")
        check(input: h, inputOffset: hOffset, output: a, outputOffset: aOffset, rows: B)
        _ = product(input: h, inputOffset: hOffset, rows: B, output: a, outputOffset: aOffset,
                    epilogue: epilogue == .tanh ? RNN_EPILOGUE_TANH : RNN_EPILOGUE_ACCUMULATE, hidden: nil)
    }

    /// The backward product of one step: dh[B, H] at dhOffset (+)= da[B, G·H] at daOffset · W_hh,
    /// then the epilogue. Returns Σ over the B rows of ‖dh_row‖ (before the derivative) for
    /// `.tanhDerivative`, else 0.
    public func backward(da: Buffer<Float>, daOffset: Int, rows B: Int, into dh: Buffer<Float>, dhOffset: Int,
                         epilogue: BackwardEpilogue) -> Double {
        precondition(product == .backward, "backward(da:...) needs weights packed for the backward product")
        check(input: da, inputOffset: daOffset, output: dh, outputOffset: dhOffset, rows: B)
        switch epilogue {
        case .accumulate:
            return product(input: da, inputOffset: daOffset, rows: B, output: dh, outputOffset: dhOffset,
                           epilogue: RNN_EPILOGUE_ACCUMULATE, hidden: nil)
        case .tanhDerivative(let hidden, let offset):
            precondition(offset >= 0 && offset + B * hiddenSize <= hidden.count,
                         "backward: h [\(B), \(hiddenSize)] at \(offset) overflows \(hidden.count) scalars")
            return product(input: da, inputOffset: daOffset, rows: B, output: dh, outputOffset: dhOffset,
                           epilogue: RNN_EPILOGUE_TANH_BACKWARD, hidden: hidden.baseAddress + offset)
        }
    }

    /// output[B, columns] (+)= input[B, depth] · op(W_hh), then the epilogue (h [B, H] read by
    /// TANH_BACKWARD). The BLAS computes the product into output, and the packed path's
    /// driver with depth 0 applies the epilogue alone.
    private func product(input: Buffer<Float>, inputOffset: Int, rows B: Int, output: Buffer<Float>, outputOffset: Int,
                         epilogue: rnn_recurrence_epilogue, hidden: UnsafePointer<Float>?) -> Double {
        switch products {
        case .packed(let passDepth):
            return rnn_recurrence_product(kernel.path.c, passDepth.c, Int32(B), Int32(columns), Int32(depth),
                                          input.baseAddress + inputOffset, depth, panels.baseAddress,
                                          output.baseAddress + outputOffset, columns, epilogue, hidden, hiddenSize)
        case .blas:
            // forward: a[B, GH] += h[B, H]·W^T (W [GH, H]); backward: dh[B, H] += da[B, GH]·W.
            BLAS.gemm(.none, product == .forward ? .transposed : .none, m: B, n: columns, k: depth,
                      a: input, aOffset: inputOffset, b: panels, beta: 1, c: output, cOffset: outputOffset)
            guard epilogue != RNN_EPILOGUE_ACCUMULATE else { return 0 }
            return rnn_recurrence_product(kernel.path.c, RNN_DEPTH_L1, Int32(B), Int32(columns), 0, input.baseAddress + inputOffset,
                                          depth, nil, output.baseAddress + outputOffset, columns, epilogue, hidden,
                                          hiddenSize)
        }
    }

    /// The tanh cell's backward epilogue alone, nothing accumulated: dh[B, H] at dhOffset becomes
    /// (1 − h²) ⊙ dh, h being h_t ([B, H] of `hidden` from `offset`). For the step that no later
    /// step sends anything to, and for a measurement that needs dh before the derivative.
    public func tanhDerivative(dh: Buffer<Float>, dhOffset: Int, rows B: Int, hidden: Buffer<Float>, offset: Int) {
        precondition(product == .backward && gates == 1, "tanhDerivative(dh:...) is the tanh cell's backward")
        precondition(B >= 0 && dhOffset >= 0 && dhOffset + B * hiddenSize <= dh.count
                     && offset >= 0 && offset + B * hiddenSize <= hidden.count,
                     "tanhDerivative: [\(B), \(hiddenSize)] at \(dhOffset) / \(offset) overflows")
        _ = rnn_recurrence_product(kernel.path.c, RNN_DEPTH_L1, Int32(B), Int32(columns), 0, dh.baseAddress + dhOffset, 0,
                                   panels.baseAddress, dh.baseAddress + dhOffset, columns, RNN_EPILOGUE_TANH_BACKWARD,
                                   hidden.baseAddress + offset, hiddenSize)
    }

    private func check(input: Buffer<Float>, inputOffset: Int, output: Buffer<Float>, outputOffset: Int, rows B: Int) {
        precondition(isPacked, "PackedRecurrentWeights used before pack(_:offset:)")
        precondition(B >= 0 && B <= Int(Int32.max) / max(depth, columns), "rows \(B) out of range")
        precondition(inputOffset >= 0 && inputOffset + B * depth <= input.count,
                     "input [\(B), \(depth)] at \(inputOffset) overflows \(input.count) scalars")
        precondition(outputOffset >= 0 && outputOffset + B * columns <= output.count,
                     "output [\(B), \(columns)] at \(outputOffset) overflows \(output.count) scalars")
    }
}
