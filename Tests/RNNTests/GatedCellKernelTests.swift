import Buffers
import Foundation
import RNN
import RNNReference
import XCTest

/// The Float cell kernels of lstm and gru (GatedCellKernels, CRecurrence cells.h) on every
/// kernel path this CPU supports, per element against Double evaluations of DESIGN §2b, at
/// shapes that hit every vector edge: H = 1, 17, 33, 100 (not multiples of 8 or 16), B = 1,
/// B = 33. Then the whole Float workspace with each path forced against the Double one.
///
/// Bounds, per element (u = 2⁻²⁴): each activation σ or tanh of the rational tanh is within
/// ε = 1e-6 of the exact function (TanhAccuracyTests; σ = ½ + ½·tanh(x/2) halves its error),
/// plus its slope (¼ for σ, 1 for tanh) times the rounding of its argument; these errors are
/// carried through the cell's products to first order, plus (n + 1)·u·M for the n roundings
/// of each further expression, M the expression evaluated with absolute values. The backward
/// kernels take exact Float inputs and only multiply and add: 12·u·M (at most 10 operations).
final class GatedCellKernelTests: XCTestCase {
    /// (H, B)
    let shapes = [(1, 1), (1, 33), (17, 33), (100, 1), (16, 2), (33, 5), (64, 3)]
    let paths = RecurrenceKernelPath.allCases.filter(\.isSupported)
    let u = 0x1p-24, epsilon = 1e-6
    /// Before and after every output: a kernel writing outside its rows fails.
    let sentinel: Float = -12345

    func testLSTMForwardMatchesDoubleReference() throws {
        for path in paths {
            let cells = GatedCellKernels(kernel: try RecurrenceKernel(path: path))
            for (H, B) in shapes {
                let BH = B * H, GH = 4 * H
                let pre = preActivations(count: B * GH, seed: UInt64(H + 3 * B)), b = values(GH, seed: UInt64(H), 1)
                let cPrev = values(BH, seed: UInt64(5 * H + B), 3)
                let gates = guarded(B * GH), c = guarded(BH), tanhC = guarded(BH), h = guarded(BH)
                cells.lstmForward(rows: B, hidden: H, pre: FloatSlice(Buffer(pre)), b_hh: FloatSlice(Buffer(b)),
                                  cPrev: FloatSlice(Buffer(cPrev)), gates: FloatSlice(gates, at: 1),
                                  c: FloatSlice(c, at: 1), tanhC: FloatSlice(tanhC, at: 1), h: FloatSlice(h, at: 1))
                let where_ = "\(path) H=\(H) B=\(B)"
                for r in 0..<B {
                    for j in 0..<H {
                        // Arguments as the kernel forms them, and the error of that one Float addition.
                        func argument(_ gate: Int) -> (x: Double, error: Double) {
                            let p = Double(pre[r * GH + gate * H + j]), bias = Double(b[gate * H + j])
                            return (p + bias, u * (abs(p) + abs(bias)))
                        }
                        let (xi, ei) = argument(0), (xf, ef) = argument(1), (xg, eg) = argument(2), (xo, eo) = argument(3)
                        let i = sigmoid(xi), f = sigmoid(xf), g = tanh(xg), o = sigmoid(xo)
                        let di = epsilon + ei / 4, df = epsilon + ef / 4, dg = epsilon + eg, dO = epsilon + eo / 4
                        let cp = Double(cPrev[r * H + j]), cNew = f * cp + i * g, tc = tanh(cNew)
                        let dc = df * abs(cp) + di * abs(g) + abs(i) * dg + 3 * u * (abs(f * cp) + abs(i * g))
                        let dtc = epsilon + dc
                        let dh = dO * abs(tc) + abs(o) * dtc + 2 * u * abs(o * tc)
                        let k = r * H + j, gk = 1 + r * GH + j
                        check(gates[gk], i, di, "\(where_) i[\(r), \(j)]")
                        check(gates[gk + H], f, df, "\(where_) f[\(r), \(j)]")
                        check(gates[gk + 2 * H], g, dg, "\(where_) g[\(r), \(j)]")
                        check(gates[gk + 3 * H], o, dO, "\(where_) o[\(r), \(j)]")
                        check(c[1 + k], cNew, dc, "\(where_) c[\(r), \(j)]")
                        check(tanhC[1 + k], tc, dtc, "\(where_) tanh(c)[\(r), \(j)]")
                        check(h[1 + k], o * tc, dh, "\(where_) h[\(r), \(j)]")
                    }
                }
                assertGuards([gates, c, tanhC, h], where_)
            }
        }
    }

    /// Activated gate values [rows, gates·H]: the third block (tanh: LSTM g, GRU n) in (−1, 1),
    /// the others (sigmoids) in (0, 1).
    private func activatedGates(rows B: Int, H: Int, gates G: Int, seed: Int) -> [Float] {
        (0..<B * G * H).map { k -> Float in
            let v = values(1, seed: UInt64(k + seed), 1)[0]
            return (k % (G * H)) / H == 2 ? v : 0.5 + 0.5 * v
        }
    }

    func testLSTMBackwardMatchesDoubleReference() throws {
        for path in paths {
            let cells = GatedCellKernels(kernel: try RecurrenceKernel(path: path))
            for (H, B) in shapes {
                let BH = B * H, GH = 4 * H
                let dhIn = values(BH, seed: UInt64(2 * H + B), 1), dcIn = values(BH, seed: UInt64(H + 7 * B), 1)
                let gateValues = activatedGates(rows: B, H: H, gates: 4, seed: 11 * H + B)  // g in (−1, 1), i, f, o in (0, 1)
                let cPrev = values(BH, seed: UInt64(3 * H + 2 * B), 3), tanhCIn = values(BH, seed: UInt64(H + B), 0.99)
                let dc = guarded(BH, dcIn), dxp = guarded(B * GH)
                let sums = GradientSums(rows: B, width: GH, seed: UInt64(H + B))
                var norms = [Double](repeating: -1, count: B + 1)
                norms.withUnsafeMutableBufferPointer { pointer in
                    cells.lstmBackward(rows: B, hidden: H, dh: FloatSlice(Buffer(dhIn)), dc: FloatSlice(dc, at: 1),
                                       gates: FloatSlice(Buffer(gateValues)), cPrev: FloatSlice(Buffer(cPrev)),
                                       tanhC: FloatSlice(Buffer(tanhCIn)), dxp: FloatSlice(dxp, at: 1),
                                       sums: sums.kernelSums, cNorms: pointer.baseAddress! + 1)
                }
                let where_ = "\(path) H=\(H) B=\(B)"
                XCTAssertEqual(norms[0], -1, "\(where_): norm written before its rows")
                for r in 0..<B {
                    var squares = 0.0
                    for j in 0..<H {
                        let k = r * H + j, a = r * GH + j
                        let i = Double(gateValues[a]), f = Double(gateValues[a + H])
                        let g = Double(gateValues[a + 2 * H]), o = Double(gateValues[a + 3 * H])
                        let dh = Double(dhIn[k]), dcNext = Double(dcIn[k]), tc = Double(tanhCIn[k]), cp = Double(cPrev[k])
                        let dct = dcNext + dh * o * (1 - tc * tc), mdct = abs(dcNext) + abs(dh * o) * (1 + tc * tc)
                        squares += dct * dct
                        let bound = 12 * u
                        check(dxp[1 + a], dct * g * i * (1 - i), bound * mdct * abs(g * i) * (1 + i), "\(where_) di[\(r), \(j)]")
                        check(dxp[1 + a + H], dct * cp * f * (1 - f), bound * mdct * abs(cp * f) * (1 + f), "\(where_) df[\(r), \(j)]")
                        check(dxp[1 + a + 2 * H], dct * i * (1 - g * g), bound * mdct * i * (1 + g * g), "\(where_) dg[\(r), \(j)]")
                        check(dxp[1 + a + 3 * H], dh * tc * o * (1 - o), bound * abs(dh * tc * o) * (1 + o), "\(where_) do[\(r), \(j)]")
                        check(dc[1 + k], dct * f, bound * mdct * f, "\(where_) dc_prev[\(r), \(j)]")
                    }
                    XCTAssertEqual(norms[1 + r], squares.squareRoot(), accuracy: 1e-6 * squares.squareRoot() + 1e-30,
                                   "\(where_) ‖dc‖ row \(r)")
                }
                assertGuards([dc, dxp], where_)
                // lstm: both biases' gradient is dxp; the rows as the kernel wrote them.
                sums.check(dxp: (0..<B * GH).map { dxp[1 + $0] }, dhp: nil, where_)
            }
        }
    }

    func testGRUForwardMatchesDoubleReference() throws {
        for path in paths {
            let cells = GatedCellKernels(kernel: try RecurrenceKernel(path: path))
            for (H, B) in shapes {
                let BH = B * H, GH = 3 * H
                let xp = preActivations(count: B * GH, seed: UInt64(7 * H + B)), hp = preActivations(count: B * GH, seed: UInt64(H + 5 * B))
                let b = values(GH, seed: UInt64(2 * H + 1), 1), hPrev = values(BH, seed: UInt64(H + 13 * B), 1)
                let gates = guarded(B * GH), hn = guarded(BH), h = guarded(BH)
                cells.gruForward(rows: B, hidden: H, xp: FloatSlice(Buffer(xp)), hp: FloatSlice(Buffer(hp)),
                                 b_hh: FloatSlice(Buffer(b)), hPrev: FloatSlice(Buffer(hPrev)),
                                 gates: FloatSlice(gates, at: 1), hn: FloatSlice(hn, at: 1), h: FloatSlice(h, at: 1))
                let where_ = "\(path) H=\(H) B=\(B)"
                for r in 0..<B {
                    for j in 0..<H {
                        func parts(_ gate: Int) -> (x: Double, hp: Double, b: Double) {
                            (Double(xp[r * GH + gate * H + j]), Double(hp[r * GH + gate * H + j]), Double(b[gate * H + j]))
                        }
                        let pr = parts(0), pz = parts(1), pn = parts(2)
                        let rg = sigmoid(pr.x + pr.hp + pr.b), z = sigmoid(pz.x + pz.hp + pz.b)
                        let dr = epsilon + 2 * u * (abs(pr.x) + abs(pr.hp) + abs(pr.b)) / 4
                        let dz = epsilon + 2 * u * (abs(pz.x) + abs(pz.hp) + abs(pz.b)) / 4
                        let hnj = pn.hp + pn.b, dhn = u * (abs(pn.hp) + abs(pn.b))
                        let n = tanh(pn.x + rg * hnj)
                        let dn = epsilon + dr * abs(hnj) + rg * dhn + 3 * u * (abs(pn.x) + abs(rg * hnj))
                        let hp0 = Double(hPrev[r * H + j]), hNew = (1 - z) * n + z * hp0
                        let dh = dz * (abs(n) + abs(hp0)) + (1 - z) * dn + 5 * u * ((1 + z) * abs(n) + abs(z * hp0))
                        let k = r * H + j, gk = 1 + r * GH + j
                        check(gates[gk], rg, dr, "\(where_) r[\(r), \(j)]")
                        check(gates[gk + H], z, dz, "\(where_) z[\(r), \(j)]")
                        check(gates[gk + 2 * H], n, dn, "\(where_) n[\(r), \(j)]")
                        check(hn[1 + k], hnj, dhn, "\(where_) hn[\(r), \(j)]")
                        check(h[1 + k], hNew, dh, "\(where_) h[\(r), \(j)]")
                    }
                }
                assertGuards([gates, hn, h], where_)
            }
        }
    }

    func testGRUBackwardMatchesDoubleReference() throws {
        for path in paths {
            let cells = GatedCellKernels(kernel: try RecurrenceKernel(path: path))
            for (H, B) in shapes {
                let BH = B * H, GH = 3 * H
                let dhIn = values(BH, seed: UInt64(4 * H + B), 1), dhPrevIn = values(BH, seed: UInt64(H + 9 * B), 1)
                let gateValues = activatedGates(rows: B, H: H, gates: 3, seed: 17 * H + B)  // n in (−1, 1), r, z in (0, 1)
                let hn = values(BH, seed: UInt64(6 * H + B), 2), hPrev = values(BH, seed: UInt64(H + 3 * B), 1)
                for withDirectPath in [true, false] {
                    let dxp = guarded(B * GH), dhp = guarded(B * GH), dhPrev = guarded(BH, dhPrevIn)
                    let sums = GradientSums(rows: B, width: GH, seed: UInt64(2 * H + B))
                    cells.gruBackward(rows: B, hidden: H, dh: FloatSlice(Buffer(dhIn)), gates: FloatSlice(Buffer(gateValues)),
                                      hn: FloatSlice(Buffer(hn)), hPrev: FloatSlice(Buffer(hPrev)),
                                      dxp: FloatSlice(dxp, at: 1), dhp: FloatSlice(dhp, at: 1),
                                      dhPrev: withDirectPath ? FloatSlice(dhPrev, at: 1) : nil, sums: sums.kernelSums)
                    let where_ = "\(path) H=\(H) B=\(B) direct path \(withDirectPath)"
                    let bound = 12 * u
                    for r in 0..<B {
                        for j in 0..<H {
                            let k = r * H + j, a = r * GH + j
                            let rg = Double(gateValues[a]), z = Double(gateValues[a + H]), n = Double(gateValues[a + 2 * H])
                            let g = Double(dhIn[k]), hnk = Double(hn[k]), hp0 = Double(hPrev[k])
                            let dn = g * (1 - z) * (1 - n * n), mdn = abs(g) * (1 + z) * (1 + n * n)
                            let dr = dn * hnk * rg * (1 - rg), mdr = mdn * abs(hnk) * rg * (1 + rg)
                            let dz = g * (hp0 - n) * z * (1 - z), mdz = abs(g) * (abs(hp0) + abs(n)) * z * (1 + z)
                            for (buffer, name) in [(dxp, "dxp"), (dhp, "dhp")] {
                                check(buffer[1 + a], dr, bound * mdr, "\(where_) \(name)_r[\(r), \(j)]")
                                check(buffer[1 + a + H], dz, bound * mdz, "\(where_) \(name)_z[\(r), \(j)]")
                            }
                            check(dxp[1 + a + 2 * H], dn, bound * mdn, "\(where_) dxp_n[\(r), \(j)]")
                            check(dhp[1 + a + 2 * H], dn * rg, bound * mdn * rg, "\(where_) dhp_n[\(r), \(j)]")
                            let previous = Double(dhPrevIn[k])
                            if withDirectPath {
                                check(dhPrev[1 + k], previous + g * z, bound * (abs(previous) + abs(g * z)), "\(where_) dh_prev[\(r), \(j)]")
                            } else {
                                XCTAssertEqual(dhPrev[1 + k], dhPrevIn[k], "\(where_): dh_prev written without a direct path")
                            }
                        }
                    }
                    assertGuards([dxp, dhp, dhPrev], where_)
                    sums.check(dxp: (0..<B * GH).map { dxp[1 + $0] }, dhp: (0..<B * GH).map { dhp[1 + $0] }, where_)
                }
            }
        }
    }

    /// The whole Float workspace, two layers with dropout, each path forced, at awkward shapes:
    /// loss within 1e-6 and each tensor's gradient norm-wise within 1e-5 of the Double workspace (libm,
    /// BLAS), twice in a row (no state left between calls); the gradient-survival measurement
    /// (which runs the backward steps with norms) within 1e-4.
    func testFloatWorkspaceWithEveryPathMatchesDouble() throws {
        for path in paths {
            let kernel = try RecurrenceKernel(path: path)
            for cell in [CellKind.lstm, .gru] {
                // The last two: layer 0 reads an embedding (E = 5; tied, E = H) through a gemm
                // like an upper layer, with embedding dropout.
                for (H, B, E, tied) in [(17, 33, nil, false), (1, 1, nil, false), (33, 2, nil, false), (17, 33, 5, false),
                                        (33, 2, 33, true)] as [(Int, Int, Int?, Bool)] {
                    let c = StackedCase(cell, layers: 2, H: H, V: 11, B: B, T: 7, dropout: 0.2, embedding: E, tied: tied,
                                        embeddingDrop: E == nil ? 0 : 0.3, seed: UInt64(300 + H + B), scale: 0.4)
                    let (loss, gradient) = c.run(c.workspace())
                    let workspace = StackedBPTTWorkspace<Float>(architecture: c.architecture, maxBatchSize: c.B,
                                                                sequenceLength: c.T, kernel: kernel)
                    let parameters = Buffer(c.parameters.toArray().map { Float($0) })
                    let where_ = "\(path) \(cell) H=\(H) B=\(B) E=\(E ?? 0)\(tied ? " tied" : "")"
                    for _ in 0..<2 {
                        let gradients = Buffer<Float>(count: gradient.count, repeating: .nan)
                        let floatLoss = workspace.forwardBackward(
                            parameters: parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets), batchSize: c.B,
                            initialState: floatState(c), tokenCountForMean: c.B * c.T, dropout: c.draw, gradients: gradients)
                        XCTAssertEqual(floatLoss, loss, accuracy: 1e-6 * loss, where_)
                        for entry in workspace.layout.entries {
                            XCTAssertLessThan(normwiseRelativeError(gradients.toArray(range: entry.range).map { Double($0) },
                                                                    Array(gradient[entry.range])), 1e-5, "\(where_) \(entry.name)")
                        }
                    }
                    let survival = c.workspace().gradientSurvival(parameters: c.parameters, inputs: Buffer(c.inputs),
                                                                  targets: Buffer(c.targets), batchSize: c.B,
                                                                  initialState: c.initialState())
                    let floatSurvival = workspace.gradientSurvival(parameters: parameters, inputs: Buffer(c.inputs),
                                                                   targets: Buffer(c.targets), batchSize: c.B,
                                                                   initialState: floatState(c))
                    XCTAssertEqual(floatSurvival.samples, survival.samples, where_)
                    let pairs = [(floatSurvival.hidden, survival.hidden)] + (survival.cell.map { [(floatSurvival.cell!, $0)] } ?? [])
                    for (got, expected) in pairs {
                        for (g, e) in zip(got.joined(), expected.joined()) where !e.isNaN {
                            XCTAssertEqual(g, e, accuracy: 1e-4 * max(abs(e), 1e-3), "\(where_) gradient survival")
                        }
                    }
                }
            }
        }
    }

    /// The sums a backward step adds (CellGradientSums), from non-zero starting values: db_hh
    /// (+ Σ rows of dhp), db_xh (+ Σ rows of dxp) and dW_xh^T (row x_b + dxp row b), with tokens
    /// at a stride that repeat (two rows into one dW_xh^T row). Each sum of n + 1 terms within
    /// (n + 1)·u·Σ|terms|.
    struct GradientSums {
        let B: Int, GH: Int, V = 5, stride = 3
        let db_hh: Buffer<Float>, db_xh: Buffer<Float>, dW_xhT: Buffer<Float>, tokens: Buffer<Int32>
        let start: (db_hh: [Float], db_xh: [Float], dW_xhT: [Float])

        init(rows B: Int, width GH: Int, seed: UInt64) {
            (self.B, self.GH) = (B, GH)
            let a = randomValues(count: GH, seed: seed, scale: 1).map { Float($0) }
            let b = randomValues(count: GH, seed: seed + 1, scale: 1).map { Float($0) }
            let w = randomValues(count: 5 * GH, seed: seed + 2, scale: 1).map { Float($0) }
            start = (a, b, w)
            (db_hh, db_xh, dW_xhT) = (Buffer([-1] + a + [-1]), Buffer([-1] + b + [-1]), Buffer([-1] + w + [-1]))
            tokens = Buffer((0..<(B * 3 + 1)).map { Int32(($0 * 7 / 3) % 5) })
        }

        var kernelSums: CellGradientSums {
            CellGradientSums(db_hh: FloatSlice(db_hh, at: 1), db_xh: FloatSlice(db_xh, at: 1),
                             inputGradient: (FloatSlice(dW_xhT, at: 1), V, tokens, 1, stride))
        }

        /// dxp, dhp: the kernel's rows [B, GH] (dhp nil: dhp = dxp, as for lstm).
        func check(dxp: [Float], dhp: [Float]?, _ message: String) {
            let u = 0x1p-24, terms = Double(B + 1)
            var expected = (start.db_hh.map(Double.init), start.db_xh.map(Double.init), start.dW_xhT.map(Double.init))
            var magnitude = (expected.0.map(abs), expected.1.map(abs), expected.2.map(abs))
            for r in 0..<B {
                let x = Int(tokens[1 + r * stride])
                for k in 0..<GH {
                    let gx = Double(dxp[r * GH + k]), gp = Double((dhp ?? dxp)[r * GH + k])
                    expected.0[k] += gp; magnitude.0[k] += abs(gp)
                    expected.1[k] += gx; magnitude.1[k] += abs(gx)
                    expected.2[x * GH + k] += gx; magnitude.2[x * GH + k] += abs(gx)
                }
            }
            for (buffer, values, bounds, name) in [(db_hh, expected.0, magnitude.0, "db_hh"), (db_xh, expected.1, magnitude.1, "db_xh"),
                                                   (dW_xhT, expected.2, magnitude.2, "dW_xh^T")] {
                XCTAssertTrue(buffer[0] == -1 && buffer[buffer.count - 1] == -1, "\(message): \(name) written outside")
                for k in values.indices where !(abs(Double(buffer[1 + k]) - values[k]) <= terms * u * bounds[k]) {
                    XCTFail("\(message): \(name)[\(k)] = \(buffer[1 + k]), expected \(values[k])")
                    break
                }
            }
        }
    }

    // MARK: - Helpers

    private func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    private func values(_ count: Int, seed: UInt64, _ scale: Double) -> [Float] {
        randomValues(count: count, seed: seed, scale: scale).map { Float($0) }
    }

    /// Mostly in (−6, 6), where σ and tanh bend, with saturated and signed-zero arguments mixed in.
    private func preActivations(count: Int, seed: UInt64) -> [Float] {
        let extremes: [Float] = [0, -0.0, 20, -20, 8, -8, 1e-6]
        return values(count, seed: seed, 6).enumerated().map { $0.offset % 11 == 3 ? extremes[$0.offset % extremes.count] : $0.element }
    }

    /// A buffer of count + 2 with the sentinel at both ends; the values (if any) from index 1.
    private func guarded(_ count: Int, _ values: [Float]? = nil) -> Buffer<Float> {
        Buffer([sentinel] + (values ?? [Float](repeating: .nan, count: count)) + [sentinel])
    }

    private func assertGuards(_ buffers: [Buffer<Float>], _ message: String) {
        for buffer in buffers where buffer[0] != sentinel || buffer[buffer.count - 1] != sentinel {
            XCTFail("\(message): a kernel wrote outside its rows")
        }
    }

    private func check(_ got: Float, _ expected: Double, _ bound: Double, _ message: @autoclosure () -> String) {
        if !(abs(Double(got) - expected) <= bound) {
            XCTFail("\(message()): got \(got), expected \(expected), bound \(bound)")
        }
    }

    private func floatState(_ c: StackedCase) -> RecurrentState<Float>? {
        c.initialState().map { d in
            let s = RecurrentState<Float>(architecture: c.architecture, capacity: c.B)
            s.h.copy(from: d.h.toArray().map { Float($0) })
            if let sc = s.c, let dc = d.c { sc.copy(from: dc.toArray().map { Float($0) }) }
            return s
        }
    }
}
