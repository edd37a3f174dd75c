import Buffers
import RNN
import RNNReference
import XCTest

/// Float64 central finite differences on every element of every tensor, for each cell with two
/// layers, non-zero initial h (and c), dropout off and on (the masks are fixed by the draw, so
/// the loss is a smooth function of the parameters).
///
/// Relative error |a − n| / max(|a| + |n|, 1e-4), bound 1e-6, as GradientCheckTests (which
/// explains the floor: components below ~1e-4 are checked to 1e-10 absolute).
final class StackedGradientCheckTests: XCTestCase {
    func testRNNGradient() { check(.rnn, dropout: 0) }
    func testRNNGradientWithDropout() { check(.rnn, dropout: 0.3) }
    func testLSTMGradient() { check(.lstm, dropout: 0) }
    func testLSTMGradientWithDropout() { check(.lstm, dropout: 0.3) }
    func testGRUGradient() { check(.gru, dropout: 0) }
    func testGRUGradientWithDropout() { check(.gru, dropout: 0.3) }
    // DropConnect on W_hh (with and without activation dropout): the masked weights' gradient
    // is the unmasked one times the mask, element by element.
    func testRNNGradientWithWeightDrop() { check(.rnn, dropout: 0, weightDrop: 0.4) }
    func testLSTMGradientWithWeightDrop() { check(.lstm, dropout: 0.3, weightDrop: 0.4) }
    func testGRUGradientWithWeightDrop() { check(.gru, dropout: 0, weightDrop: 0.4) }
    // An embedding table [V, E] (E = 3 ≠ H) read by layer 0, with and without embedding
    // dropout (whole rows masked: a dropped row's gradient is exactly 0), and tied (E = H: the
    // table is also W_hy, its gradient the sum of both uses). Every element of the table is
    // checked like every other tensor's (every token occurs in the batch, see randomTokens).
    func testRNNEmbeddingGradient() { check(.rnn, dropout: 0.3, embedding: 3) }
    func testLSTMEmbeddingGradient() { check(.lstm, dropout: 0, embedding: 3, embeddingDrop: 0.4) }
    func testGRUEmbeddingGradient() { check(.gru, dropout: 0.3, embedding: 3, embeddingDrop: 0.4) }
    func testRNNTiedEmbeddingGradient() { check(.rnn, dropout: 0, embedding: 4, tied: true, embeddingDrop: 0.4) }
    func testLSTMTiedEmbeddingGradient() { check(.lstm, dropout: 0.3, weightDrop: 0.4, embedding: 4, tied: true) }
    func testGRUTiedEmbeddingGradient() { check(.gru, dropout: 0.3, embedding: 4, tied: true, embeddingDrop: 0.4) }

    private func check(_ cell: CellKind, dropout: Double, weightDrop: Double = 0, embedding: Int? = nil, tied: Bool = false,
                       embeddingDrop: Double = 0) {
        let c = StackedCase(cell, layers: 2, H: 4, V: 5, B: 2, T: 5, dropout: dropout, weightDrop: weightDrop,
                            embedding: embedding, tied: tied, embeddingDrop: embeddingDrop, seed: 40)
        let workspace = c.workspace()
        let analytic = c.run(workspace).gradient
        let parameters = c.parameters, initialState = c.initialState()
        let inputs = Buffer(c.inputs), targets = Buffer(c.targets), N = Double(c.B * c.T)
        func meanLoss() -> Double {
            workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: c.B,
                              initialState: initialState, dropout: c.draw) / N
        }
        let eps = 1e-5
        var worst = 0.0, line = ""
        for entry in workspace.layout.entries {
            var worstInTensor = 0.0
            for i in entry.range {
                let numeric = centralDifference(parameters, at: i, eps: eps, loss: meanLoss)
                let error = abs(analytic[i] - numeric) / max(abs(analytic[i]) + abs(numeric), 1e-4)
                worstInTensor = max(worstInTensor, error)
                XCTAssertLessThan(error, 1e-6, "\(cell) \(entry.name)[\(i - entry.range.lowerBound)]: analytic \(analytic[i]), numeric \(numeric)")
            }
            line += " \(entry.name) \(String(format: "%.1e", worstInTensor))"
            worst = max(worst, worstInTensor)
        }
        print("gradient check \(cell), 2 layers, dropout \(dropout), weight drop \(weightDrop), embedding \(embedding.map(String.init) ?? "none")"
              + "\(tied ? " tied" : ""), embedding dropout \(embeddingDrop): max relative error \(worst);\(line)")
        if let E = embedding {
            let table = workspace.layout.range(of: .embedding)!
            XCTAssertEqual(table.count, c.architecture.vocabularySize * E)
            if tied { XCTAssertEqual(workspace.layout.range(of: .W_hy), table, "tied: W_hy is the embedding, stored once") }
            if embeddingDrop > 0 {
                // Some rows dropped, some kept: untied, a dropped row's gradient is exactly 0.
                let dropped = (0..<c.architecture.vocabularySize).filter { c.embeddingMask($0) == 0 }
                XCTAssertFalse(dropped.isEmpty, "embedding dropout 0.4 dropped no row of 5")
                XCTAssertLessThan(dropped.count, c.architecture.vocabularySize, "embedding dropout 0.4 dropped every row")
                for x in dropped where !tied {
                    XCTAssertTrue((0..<E).allSatisfy { analytic[table.lowerBound + x * E + $0] == 0 }, "dropped row \(x)")
                }
            }
        }
        if weightDrop > 0 {
            // The mask dropped some recurrent weights: their gradient is exactly 0, others' is not.
            let W_hh = workspace.layout.range(of: .W_hh(layer: 0))!
            let zeros = W_hh.filter { analytic[$0] == 0 }.count
            XCTAssertGreaterThan(zeros, W_hh.count / 5, "weight drop 0.4 left \(zeros) of \(W_hh.count) gradients at 0")
            XCTAssertLessThan(zeros, W_hh.count * 3 / 5)
        }
    }
}
