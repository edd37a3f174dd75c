import Buffers
import Foundation
import RNN
import RNNReference
import XCTest

/// Every recurrence kernel this CPU supports (each vector path's packed products, and the BLAS's
/// products with the widest path's epilogue) against plain Double loops, at shapes that
/// hit every edge of the blocking: H not a multiple of the vector width (17, 100), H = 1,
/// B = 1, B = 33 (a partial row tile), B = 300 (more than one 256-row block), G = 1, 3, 4,
/// and depths G·H beyond one K pass (128 on AVX-512, 256 on AVX2 and generic). The AVX2 tile
/// takes four k steps per iteration: the depths K = H and G·H leave every remainder mod 4
/// (17, 100, 51, 10, 30, 19), and the row tiles hold 1 to 6 rows (B = 1, 2, 7: 4 + 3,
/// 13: 5 + 4 + 4, 19: 5 + 5 + 5 + 4, 33: 6 + 6 + 6 + 5 + 5 + 5).
final class RecurrenceKernelTests: XCTestCase {
    /// (H, B, G)
    let shapes = [(17, 33, 1), (100, 32, 1), (1, 1, 1), (1, 33, 4), (16, 1, 3), (17, 2, 3),
                  (100, 1, 4), (100, 33, 3), (48, 7, 1), (300, 5, 1), (20, 300, 1),
                  (10, 13, 3), (19, 19, 1)]
    let paths = RecurrenceKernelPath.allCases.filter(\.isSupported)

    /// Rows around the result hold this sentinel: a kernel writing outside [B, N] fails.
    let sentinel: Float = -12345

    func testThisCPUHasTheVectorPaths() throws {
        // Not a correctness check: says which paths the other tests covered on this machine.
        print("recurrence kernel paths supported here: \(paths.map(\.rawValue)); best \(RecurrenceKernel.best)")
        XCTAssertTrue(paths.contains(.generic))
        XCTAssertEqual(RecurrenceKernel.best.path, paths.first)
    }

    /// Forward: a[B, G·H] = tanh(a0 + h·W^T) and a0 + h·W^T. Tolerance per element: the
    /// worst-case bound of a Float sum of K + 1 terms, (K + 1)·2⁻²⁴·(|a0| + Σ_k |h_k W_nk|),
    /// plus 1e-6 for the rational tanh (its error is below 3e-7, TanhAccuracyTests).
    func testForwardProductMatchesDoubleReference() throws {
        for kernel in RecurrenceKernel.allSupported {
            let path = kernel.detail
            for (H, B, G) in shapes {
                let N = G * H, K = H
                let W = randomValues(count: N * H, seed: UInt64(7 * H + B + G), scale: 1 / Double(H).squareRoot())
                let h = randomValues(count: B * K, seed: UInt64(H + 11 * B + G), scale: 1)
                let a0 = randomValues(count: B * N, seed: UInt64(13 * H + B + 5 * G), scale: 0.5)
                let packed = PackedRecurrentWeights(kernel: kernel, product: .forward, gates: G, hiddenSize: H)
                packed.pack(floats([sentinel] + W.map(Float.init)), offset: 1)
                for epilogue in [PackedRecurrentWeights.ForwardEpilogue.accumulate, .tanh] {
                    // a sits between two sentinel rows, h in the same buffer before it (as in BPTT).
                    let buffer = floats(h.map(Float.init) + [Float](repeating: sentinel, count: N)
                        + a0.map(Float.init) + [Float](repeating: sentinel, count: N))
                    packed.forward(h: buffer, hOffset: 0, rows: B, into: buffer, aOffset: B * K + N, epilogue: epilogue)
                    var worst = 0.0
                    for b in 0..<B {
                        for n in 0..<N {
                            var sum = a0[b * N + n], magnitude = abs(a0[b * N + n])
                            for k in 0..<K {
                                let term = Double(Float(h[b * K + k])) * Double(Float(W[n * H + k]))
                                sum += term
                                magnitude += abs(term)
                            }
                            let expected = epilogue == .tanh ? tanh(sum) : sum
                            let got = Double(buffer[B * K + N + b * N + n])
                            let tolerance = Double(K + 1) * 0x1p-24 * magnitude + (epilogue == .tanh ? 1e-6 : 0)
                            worst = max(worst, abs(got - expected) / tolerance)
                            XCTAssertLessThanOrEqual(abs(got - expected), tolerance,
                                                     "\(path) H=\(H) B=\(B) G=\(G) \(epilogue) [\(b), \(n)]")
                        }
                    }
                    assertSentinels(buffer, ranges: [B * K..<B * K + N, B * K + N + B * N..<buffer.count], "\(path) H=\(H) B=\(B) G=\(G)")
                    XCTAssertLessThan(worst, 1)
                }
            }
        }
    }

    /// Backward: dh[B, H] = dh0 + da·W, then da = (1 − h²)⊙dh and Σ_rows ‖dh_row‖.
    /// Tolerance per element: (K + 1)·2⁻²⁴·(|dh0| + Σ_n |da_n W_nj|), times |1 − h²| ≤ 1, plus
    /// 2⁻²³·|result| for the final product; the norm sum to 1e-6 relative.
    func testBackwardProductMatchesDoubleReference() throws {
        for kernel in RecurrenceKernel.allSupported {
            let path = kernel.detail
            for (H, B, G) in shapes {
                let N = H, K = G * H
                let W = randomValues(count: K * H, seed: UInt64(3 * H + B + G), scale: 1 / Double(K).squareRoot())
                let da = randomValues(count: B * K, seed: UInt64(H + 17 * B + G), scale: 1)
                let dh0 = randomValues(count: B * N, seed: UInt64(19 * H + B + 3 * G), scale: 0.5)
                let hidden = randomValues(count: B * N, seed: UInt64(23 * H + 2 * B + G), scale: 0.99).map(Float.init)
                let packed = PackedRecurrentWeights(kernel: kernel, product: .backward, gates: G, hiddenSize: H)
                packed.pack(floats(W.map(Float.init)), offset: 0)
                for derivative in [false, true] {
                    let buffer = floats([Float](repeating: sentinel, count: N) + dh0.map(Float.init)
                        + [Float](repeating: sentinel, count: N) + da.map(Float.init))
                    let hBuffer = floats([0] + hidden)
                    let normSum = packed.backward(
                        da: buffer, daOffset: 2 * N + B * N, rows: B, into: buffer, dhOffset: N,
                        epilogue: derivative ? .tanhDerivative(hidden: hBuffer, offset: 1) : .accumulate)
                    var expectedNormSum = 0.0
                    for b in 0..<B {
                        var squares = 0.0
                        for j in 0..<N {
                            var sum = dh0[b * N + j], magnitude = abs(dh0[b * N + j])
                            for n in 0..<K {
                                let term = Double(Float(da[b * K + n])) * Double(Float(W[n * H + j]))
                                sum += term
                                magnitude += abs(term)
                            }
                            squares += sum * sum
                            let hv = Double(hidden[b * N + j])
                            let expected = derivative ? (1 - hv * hv) * sum : sum
                            let got = Double(buffer[N + b * N + j])
                            let tolerance = Double(K + 1) * 0x1p-24 * magnitude + 0x1p-23 * abs(expected)
                            XCTAssertLessThanOrEqual(abs(got - expected), tolerance,
                                                     "\(path) H=\(H) B=\(B) G=\(G) derivative \(derivative) [\(b), \(j)]")
                        }
                        expectedNormSum += squares.squareRoot()
                    }
                    if derivative {
                        XCTAssertEqual(normSum, expectedNormSum, accuracy: 1e-6 * expectedNormSum, "\(path) H=\(H) B=\(B) G=\(G)")
                    } else {
                        XCTAssertEqual(normSum, 0)
                    }
                    assertSentinels(buffer, ranges: [0..<N, N + B * N..<2 * N + B * N], "\(path) H=\(H) B=\(B) G=\(G)")
                }
            }
        }
    }

    /// The vector tanh of each path: W = 0, so a = tanh(a) exactly as the epilogue computes it.
    /// Bound as TanhAccuracyTests bounds the Swift one: 1e-6 absolute and relative; NaN passes.
    func testFusedTanhIsAccurateOnEveryPath() throws {
        var xs = (0...4800).map { Float(-12 + Double($0) * 0.005) }
        xs += [1e-30, -1e-20, 1e-7, 3e-4, -5e-4, 0.01, 100, -1e30, .infinity, -.infinity]
        let H = 10, B = xs.count / H   // 481 rows of 10: partial vectors and more than one row block
        for path in paths {
            let packed = PackedRecurrentWeights(kernel: try RecurrenceKernel(path: path), product: .forward,
                                                gates: 1, hiddenSize: H)
            packed.pack(Buffer(count: H * H, repeating: 0), offset: 0)
            let a = floats(Array(xs[0..<B * H]))
            let h = Buffer<Float>(count: B * H, repeating: 1)
            packed.forward(h: h, hOffset: 0, rows: B, into: a, aOffset: 0, epilogue: .tanh)
            for i in 0..<B * H {
                let exact = tanh(Double(xs[i])), approximate = Double(a[i])
                XCTAssertLessThan(abs(approximate - exact), 1e-6, "\(path) x = \(xs[i])")
                XCTAssertLessThan(abs(approximate - exact) / max(abs(exact), 1e-30), 1e-6, "\(path) x = \(xs[i])")
            }
            let nan = floats([.nan, 0.5])
            let packed2 = PackedRecurrentWeights(kernel: try RecurrenceKernel(path: path), product: .forward,
                                                 gates: 1, hiddenSize: 2)
            packed2.pack(Buffer(count: 4, repeating: 0), offset: 0)
            packed2.forward(h: Buffer(count: 2, repeating: 0), hOffset: 0, rows: 1, into: nan, aOffset: 0, epilogue: .tanh)
            XCTAssertTrue(nan[0].isNaN, "\(path): NaN must propagate")
            XCTAssertEqual(Double(nan[1]), tanh(0.5), accuracy: 1e-6)
        }
    }

    func testEnvironmentChoice() throws {
        XCTAssertEqual(try RecurrenceKernel.choose(forced: nil).path, RecurrenceKernel.best.path)
        XCTAssertEqual(try RecurrenceKernel.choose(forced: "").path, RecurrenceKernel.best.path)
        XCTAssertFalse(try RecurrenceKernel.choose(forced: nil).isForced)
        XCTAssertThrowsError(try RecurrenceKernel.choose(forced: "sse9")) { error in
            XCTAssertEqual(error as? RecurrenceKernelError, .unknownPath("sse9"))
        }
        for path in RecurrenceKernelPath.allCases {
            if path.isSupported {
                let kernel = try RecurrenceKernel.choose(forced: path.rawValue.uppercased())
                XCTAssertEqual(kernel.path, path)
                XCTAssertTrue(kernel.isForced)
            } else {
                XCTAssertThrowsError(try RecurrenceKernel.choose(forced: path.rawValue)) { error in
                    XCTAssertEqual(error as? RecurrenceKernelError, .unsupported(path))
                }
            }
        }
        // Every name round-trips, with its depth and products; a name is parsed whole.
        for kernel in RecurrenceKernel.allSupported {
            let chosen = try RecurrenceKernel.choose(forced: kernel.name)
            XCTAssertEqual(chosen, kernel, kernel.name)
            XCTAssertEqual(RecurrenceKernel(name: kernel.name, origin: .checkpoint)?.chosen(by: .forced), kernel)
        }
        XCTAssertEqual(try RecurrenceKernel.choose(forced: "generic-onepass").products, .packed(.onePass))
        XCTAssertEqual(try RecurrenceKernel.choose(forced: "BLAS").products, .blas)
        XCTAssertEqual(RecurrenceKernel.allNames.count, RecurrenceKernelPath.allCases.count * RecurrenceDepth.allCases.count + 1)
        for bad in ["generic-l1", "generic-", "avx2-twopass", "blas-onepass"] {
            XCTAssertThrowsError(try RecurrenceKernel.choose(forced: bad), bad) { error in
                XCTAssertEqual(error as? RecurrenceKernelError, .unknownPath(bad))
            }
        }
    }

    private func floats(_ values: [Float]) -> Buffer<Float> { Buffer(values) }

    private func assertSentinels(_ buffer: Buffer<Float>, ranges: [Range<Int>], _ message: String) {
        for range in ranges {
            for i in range where buffer[i] != sentinel {
                XCTFail("\(message): element \(i) outside the result was overwritten")
                return
            }
        }
    }
}
