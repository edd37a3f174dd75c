import BLAS
import Buffers
import RNN
import RNNReference
import XCTest

/// StackedBPTTWorkspace against the plain reference, the legacy tanh RNN's file names, carried state against one long forward, and the batch dimension with dropout.
final class StackedWorkspaceTests: XCTestCase {
    /// Loss, every gradient element and the final (h, c) against ReferenceStackedRNN, for each
    /// cell at B = 1, 3; H = 1, 5; T = 1, 6; L = 1, 2, 3; V = 7, with initial state, dropout
    /// off and on, in a workspace of maxBatchSize B + 2 that first ran a full batch. Bound: 1e-12 norm-wise (Double; the two differ only in summation order).
    func testMatchesReferenceAtSeveralShapes() {
        var worst = 0.0, cases = 0
        for cell in CellKind.allCases {
            for B in [1, 3] { for H in [1, 5] { for T in [1, 6] { for layers in [1, 2, 3] { for dropout in [0, 0.4] {
                let c = StackedCase(cell, layers: layers, H: H, V: 7, B: B, T: T, dropout: dropout,
                                    seed: UInt64(B * 1000 + H * 100 + T * 10 + layers))
                let workspace = c.workspace(maxBatchSize: B + 2)
                // A full-size call first, so stale rows of a larger batch would show.
                _ = StackedCase(cell, layers: layers, H: H, V: 7, B: B + 2, T: T, dropout: 0.5, seed: 999).run(workspace)
                let (loss, gradient) = c.run(workspace)
                let expected = c.reference()
                let label = "\(cell) B=\(B) H=\(H) T=\(T) L=\(layers) p=\(dropout)"
                XCTAssertEqual(loss, expected.loss, accuracy: 1e-12 * expected.loss, label)
                let error = normwiseRelativeError(gradient, expected.gradient)
                XCTAssertLessThan(error, 1e-12, label)
                worst = max(worst, error)
                let state = workspace.finalState
                for l in 0..<layers {
                    for b in 0..<B {
                        let o = state.offset(layer: l, row: b)
                        XCTAssertLessThan(normwiseRelativeError(state.h.toArray(range: o..<o + H), expected.finalH[l][b]), 1e-13, label)
                        if let sc = state.c {
                            XCTAssertLessThan(normwiseRelativeError(sc.toArray(range: o..<o + H), expected.finalC[l][b]), 1e-13, label)
                        }
                    }
                }
                cases += 1
            } } } } }
        }
        print("stacked workspace vs reference: \(cases) cases, worst norm-wise gradient error \(worst)")
    }

    /// With an embedding (E = 3, and tied E = H = 5), with and without embedding dropout and
    /// dropout: loss, every gradient element (the table's included) and the final (h, c)
    /// against ReferenceStackedRNN, which reads the table row by row as the equations write it.
    /// Same bound and reason as testMatchesReferenceAtSeveralShapes.
    func testEmbeddingMatchesReference() {
        var worst = 0.0, cases = 0
        for cell in CellKind.allCases {
            for layers in [1, 2, 3] { for (E, tied) in [(3, false), (5, true)] { for (dropout, embeddingDrop) in [(0, 0), (0.3, 0.4)] {
                let c = StackedCase(cell, layers: layers, H: 5, V: 7, B: 3, T: 6, dropout: dropout, embedding: E, tied: tied,
                                    embeddingDrop: embeddingDrop, seed: UInt64(500 + layers * 10 + E))
                let workspace = c.workspace(maxBatchSize: 5)
                _ = StackedCase(cell, layers: layers, H: 5, V: 7, B: 5, T: 6, dropout: 0.5, embedding: E, tied: tied,
                                embeddingDrop: 0.5, seed: 998).run(workspace)
                let (loss, gradient) = c.run(workspace)
                let expected = c.reference()
                let label = "\(cell) L=\(layers) E=\(E) tied \(tied) p=\(dropout) e=\(embeddingDrop)"
                XCTAssertEqual(loss, expected.loss, accuracy: 1e-12 * expected.loss, label)
                let error = normwiseRelativeError(gradient, expected.gradient)
                XCTAssertLessThan(error, 1e-12, label)
                let table = workspace.layout.range(of: .embedding)!
                XCTAssertLessThan(normwiseRelativeError(Array(gradient[table]), Array(expected.gradient[table])), 1e-12, label)
                worst = max(worst, error)
                for l in 0..<layers {
                    for b in 0..<c.B {
                        let o = workspace.finalState.offset(layer: l, row: b)
                        XCTAssertLessThan(normwiseRelativeError(workspace.finalState.h.toArray(range: o..<o + 5),
                                                                expected.finalH[l][b]), 1e-13, label)
                    }
                }
                cases += 1
            } } }
        }
        print("embedding workspace vs reference: \(cases) cases, worst norm-wise gradient error \(worst)")
    }

    /// Truncated BPTT's carried state: T = 6 run as chunks of 3 + 3 and 2 + 2 + 2, each chunk
    /// starting from the previous chunk's finalState, gives the loss and final (h, c) of one
    /// forward over 6 steps.
    func testCarriedStateEqualsOneLongForward() {
        for cell in CellKind.allCases {
            let long = StackedCase(cell, layers: 2, B: 3, T: 6)
            let workspace = long.workspace()
            let expectedLoss = workspace.forward(parameters: long.parameters, inputs: Buffer(long.inputs),
                                                 targets: Buffer(long.targets), batchSize: 3, initialState: long.initialState())
            let expectedState = RecurrentState<Double>(architecture: long.architecture, capacity: 3)
            expectedState.copy(from: workspace.finalState, rows: 3)
            for chunk in [3, 2] {
                let short = StackedBPTTWorkspace<Double>(architecture: long.architecture, maxBatchSize: 3, sequenceLength: chunk)
                let carried = long.initialState()!
                var loss = 0.0
                for start in stride(from: 0, to: 6, by: chunk) {
                    func slice(_ tokens: [Int32]) -> Buffer<Int32> {
                        Buffer((0..<3).flatMap { b in tokens[b * 6 + start..<b * 6 + start + chunk] })
                    }
                    let gradients = Buffer<Double>(count: long.parameters.count, repeating: 0)
                    loss += short.forwardBackward(parameters: long.parameters, inputs: slice(long.inputs),
                                                  targets: slice(long.targets), batchSize: 3, initialState: carried,
                                                  tokenCountForMean: 18, gradients: gradients)
                    carried.copy(from: short.finalState, rows: 3)
                }
                XCTAssertEqual(loss, expectedLoss, accuracy: 1e-13 * expectedLoss, "\(cell) chunks of \(chunk)")
                XCTAssertLessThan(normwiseRelativeError(carried.h.toArray(), expectedState.h.toArray()), 1e-14, "\(cell)")
                if let c = carried.c {
                    XCTAssertLessThan(normwiseRelativeError(c.toArray(), expectedState.c!.toArray()), 1e-14, "\(cell)")
                }
            }
        }
    }

    /// `cell: rnn, layers: 1` is DESIGN §2's model in files: its five names, order and sizes,
    /// and no b_hh.
    func testLegacyTanhRNNKeepsItsFiveTensorNames() {
        let shape = RNNShape(vocabularySize: 7, hiddenSize: 6), H = 6, V = 7
        let layout = ModelLayout(architecture: ModelArchitecture(shape: shape))
        XCTAssertEqual(layout.entries.map(\.name), ModelLayout.legacyTanhRNNNames)
        XCTAssertEqual(layout.entries.map(\.dimensions), [[H, V], [H, H], [V, H], [H], [V]])
        XCTAssertEqual(layout.entries.map(\.range.lowerBound), [0, H * V, H * V + H * H, H * V + H * H + V * H,
                                                                 H * V + H * H + V * H + H])
        XCTAssertNil(layout.range(of: .b_hh(layer: 0)))
    }

    /// Two "ranks" holding 3 and 1 of 4 sequences, each passing its rows' global sequence
    /// indices and the global token count: with dropout on, their gradients add up to the
    /// full batch's (the masks follow the sequence, not the rank or the row).
    func testShardsWithDropoutSumToFullBatch() {
        for cell in CellKind.allCases {
            let full = StackedCase(cell, layers: 2, B: 4, T: 5, dropout: 0.35, seed: 90)
            let workspace = full.workspace()
            let expected = full.run(workspace).gradient
            var summed = [Double](repeating: 0, count: expected.count)
            var loss = 0.0
            for rows in [0..<3, 3..<4] {
                let B = rows.count, T = 5
                var draw = full.draw!
                draw.sequenceIndices = Array(full.draw!.sequenceIndices[rows])
                let state = RecurrentState<Double>(architecture: full.architecture, capacity: B)
                for l in 0..<2 { for (i, b) in rows.enumerated() { state.h.copy(from: full.h0![l][b], at: state.offset(layer: l, row: i)) } }
                if let c = state.c { for l in 0..<2 { for (i, b) in rows.enumerated() { c.copy(from: full.c0![l][b], at: state.offset(layer: l, row: i)) } } }
                let gradients = Buffer<Double>(count: expected.count, repeating: .nan)
                loss += workspace.forwardBackward(parameters: full.parameters,
                                                  inputs: Buffer(Array(full.inputs[rows.lowerBound * T..<rows.upperBound * T])),
                                                  targets: Buffer(Array(full.targets[rows.lowerBound * T..<rows.upperBound * T])),
                                                  batchSize: B, initialState: state, tokenCountForMean: 4 * T,
                                                  dropout: draw, gradients: gradients)
                for i in summed.indices { summed[i] += gradients[i] }
            }
            XCTAssertLessThan(normwiseRelativeError(summed, expected), 1e-13, "\(cell)")
            XCTAssertEqual(loss, full.run(workspace).loss, accuracy: 1e-13 * loss, "\(cell)")
        }
    }

    /// Dropout changes the loss (the masks are live) and evaluation without dropout is the
    /// plain forward; batch size 0 gives zero loss and zero gradients.
    func testDropoutIsLiveAndBatchSizeZeroIsEmpty() {
        for cell in CellKind.allCases {
            let c = StackedCase(cell, dropout: 0.5)
            let workspace = c.workspace()
            let withDropout = c.run(workspace).loss
            let evaluation = workspace.forward(parameters: c.parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets),
                                               batchSize: c.B, initialState: c.initialState())
            XCTAssertEqual(evaluation, StackedCase(cell, dropout: 0).run(workspace).loss, accuracy: 1e-13 * evaluation)
            XCTAssertGreaterThan(abs(withDropout - evaluation), 1e-3 * evaluation, "\(cell)")
            let gradients = Buffer<Double>(count: c.parameters.count, repeating: .nan)
            XCTAssertEqual(workspace.forwardBackward(parameters: c.parameters, inputs: Buffer([]), targets: Buffer([]),
                                                     batchSize: 0, initialState: nil, tokenCountForMean: 0, gradients: gradients), 0)
            XCTAssertTrue(gradients.toArray().allSatisfy { $0 == 0 })
        }
    }

    /// The Float path (approximated tanh and σ, sgemm) stays within 1e-5 norm-wise (loss 1e-6) of the
    /// Double path on the loss and the gradient, for each cell with dropout.
    func testFloatPathAgreesWithDouble() {
        for cell in CellKind.allCases { for (E, tied) in [(nil, false), (9, false), (24, true)] as [(Int?, Bool)] {
            let c = StackedCase(cell, layers: 2, H: 24, V: 11, B: 4, T: 10, dropout: 0.2, embedding: E, tied: tied,
                                embeddingDrop: E == nil ? 0 : 0.2, seed: 120, scale: 0.3)
            let (loss, gradient) = c.run(c.workspace())
            let workspace = StackedBPTTWorkspace<Float>(architecture: c.architecture, maxBatchSize: c.B, sequenceLength: c.T)
            let state = c.initialState().map { d -> RecurrentState<Float> in
                let s = RecurrentState<Float>(architecture: c.architecture, capacity: c.B)
                s.h.copy(from: d.h.toArray().map { Float($0) })
                if let sc = s.c, let dc = d.c { sc.copy(from: dc.toArray().map { Float($0) }) }
                return s
            }
            let gradients = Buffer<Float>(count: gradient.count, repeating: .nan)
            let floatLoss = workspace.forwardBackward(parameters: Buffer(c.parameters.toArray().map { Float($0) }),
                                                      inputs: Buffer(c.inputs), targets: Buffer(c.targets), batchSize: c.B,
                                                      initialState: state, tokenCountForMean: c.B * c.T, dropout: c.draw,
                                                      gradients: gradients)
            XCTAssertEqual(floatLoss, loss, accuracy: 1e-6 * loss, "\(cell)")
            let error = normwiseRelativeError(gradients.toArray().map { Double($0) }, gradient)
            XCTAssertLessThan(error, 1e-5, "\(cell) E=\(E ?? 0)")
            print("float vs double, \(cell) E=\(E ?? 0)\(tied ? " tied" : ""): loss \(abs(floatLoss - loss) / loss), gradient \(error)")
        } }
    }

    /// Resume: the workspace keeps no random state, so step 3's gradient is bit-identical in a
    /// workspace that ran steps 0…2 before it and in a fresh one (a resumed run).
    func testDropoutStepIsTheSameAfterOtherStepsAsInAFreshWorkspace() {
        for cell in CellKind.allCases {
            let c = StackedCase(cell, dropout: 0.3, seed: 170)
            let used = c.workspace(), fresh = c.workspace()
            var draw = c.draw!
            func gradient(_ workspace: StackedBPTTWorkspace<Double>, step: Int) -> [Double] {
                draw.step = step
                let gradients = Buffer<Double>(count: c.parameters.count, repeating: .nan)
                _ = workspace.forwardBackward(parameters: c.parameters, inputs: Buffer(c.inputs), targets: Buffer(c.targets),
                                              batchSize: c.B, initialState: c.initialState(), tokenCountForMean: c.B * c.T,
                                              dropout: draw, gradients: gradients)
                return gradients.toArray()
            }
            let earlier = (0..<3).map { gradient(used, step: $0) }
            XCTAssertNotEqual(earlier[0], earlier[1], "\(cell): the step must change the masks")
            XCTAssertEqual(gradient(used, step: 3), gradient(fresh, step: 3), "\(cell)")
        }
    }
}
