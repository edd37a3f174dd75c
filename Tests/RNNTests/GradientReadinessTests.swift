import Buffers
import RNN
import RNNReference
import XCTest

/// What the overlapped allreduce starts from is true: a backward pass reports its
/// `gradientBuckets` in that order, they cover the gradient exactly once, and each holds its
/// final values when reported (the buffer starts filled with a sentinel, so a bucket reported
/// before its values are written fails the comparison).
final class GradientReadinessTests: XCTestCase {
    private final class Recorder: GradientReadiness {
        let gradients: Buffer<Float>
        var reported: [(range: Range<Int>, values: [Float])] = []
        var progressCalls = 0
        /// At each forwardFinished call, how many buckets had been reported.
        var forwardFinishedAfter: [Int] = []

        init(_ gradients: Buffer<Float>) { self.gradients = gradients }

        func forwardFinished() { forwardFinishedAfter.append(reported.count) }

        func gradientReady(_ range: Range<Int>) { reported.append((range, gradients.toArray(range: range))) }
        func backwardProgress() { progressCalls += 1 }
    }

    /// Runs `backward` (one forwardBackward into `gradients`, reporting to `readiness`) for a
    /// full batch and for an empty one, and checks what it reported: `buckets` in order, covering
    /// the gradient once, each final when reported; a progress call per step of every layer.
    private func checkReports(buckets: [Range<Int>], count: Int, progressCallsPerBatch: Int,
                              file: StaticString = #filePath, line: UInt = #line,
                              backward: (_ batchSize: Int, _ gradients: Buffer<Float>, _ readiness: Recorder) -> Void,
                              batchSize: Int) {
        var cover = [Int](repeating: 0, count: count)
        for range in buckets { for i in range { cover[i] += 1 } }
        XCTAssertEqual(cover.filter { $0 != 1 }.count, 0, "buckets do not cover the gradient exactly once", file: file, line: line)
        for rows in [batchSize, 0] {
            let gradients = Buffer<Float>(count: count, repeating: 12_345)
            let recorder = Recorder(gradients)
            backward(rows, gradients, recorder)
            XCTAssertEqual(recorder.reported.map(\.range), buckets, "buckets out of order", file: file, line: line)
            // The timeline's forward/backward boundary: once, before any bucket is final.
            XCTAssertEqual(recorder.forwardFinishedAfter, [0], "forwardFinished once, before the first bucket", file: file, line: line)
            for (range, values) in recorder.reported {
                XCTAssertEqual(values, gradients.toArray(range: range), "\(range) changed after it was reported ready",
                               file: file, line: line)
            }
            XCTAssertGreaterThanOrEqual(recorder.progressCalls, rows == 0 ? 0 : progressCallsPerBatch, file: file, line: line)
        }
    }

    /// The tanh RNN: W_hy and b_y first, then W_hh in row blocks (H = 260: 4 uneven blocks of
    /// 65 rows), then W_xh and b_h; a progress call at every step of the recurrence backward.
    func testTanhWorkspaceReportsEachBucketWhenFinal() {
        let shape = RNNShape(vocabularySize: 11, hiddenSize: 260), T = 9, B = 3
        let workspace = StackedBPTTWorkspace<Float>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        XCTAssertEqual(workspace.gradientBuckets.count, 2 + 4 + 2)
        let parameters = randomParameters(Float.self, shape: shape, seed: 5, scale: 0.1)
        let inputs = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 11, seed: 6))
        let targets = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 11, seed: 7))
        checkReports(buckets: workspace.gradientBuckets, count: parameters.count, progressCallsPerBatch: T,
                     backward: { rows, gradients, recorder in
                         _ = workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: rows,
                                                       initialHidden: nil, tokenCountForMean: B * T, gradients: gradients,
                                                       readiness: recorder)
                     }, batchSize: B)
    }

    /// With an embedding: its bucket is reported with layer 0's (merged with W_xh.0, adjacent),
    /// after layer 0's scatter-add; tied, the output layer's bucket is b_y alone, since the
    /// shared table's gradient is final only then.
    func testEmbeddingWorkspaceReportsTheTableWhenFinal() {
        for (cell, E, tied) in [(CellKind.gru, 6, false), (.lstm, 9, true), (.rnn, 9, true)] {
            let architecture = ModelArchitecture(cell: cell, layers: 2, hiddenSize: 9, vocabularySize: 7, embeddingSize: E,
                                                 tiedWeights: tied)
            let T = 5, B = 3
            let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: B, sequenceLength: T)
            let layout = ModelLayout(architecture: architecture)
            let table = layout.range(of: .embedding)!
            // Layer 0's two buckets come last: [embedding, W_xh.0] (adjacent, merged) and [b_xh.0, b_hh.0].
            XCTAssertEqual(Array(workspace.gradientBuckets.suffix(2)),
                           [table.lowerBound..<layout.range(of: .W_xh(layer: 0))!.upperBound,
                            layout.mergedRanges([.b_xh(layer: 0), .b_hh(layer: 0)])[0]], "\(cell)")
            XCTAssertEqual(workspace.gradientBuckets.first!, tied ? layout.range(of: .b_y)! : layout.mergedRanges([.W_hy, .b_y])[0])
            let parameters = Buffer<Float>(randomValues(count: layout.count, seed: 8, scale: 0.2).map { Float($0) })
            let inputs = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 7, seed: 9))
            let targets = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 7, seed: 10))
            checkReports(buckets: workspace.gradientBuckets, count: layout.count, progressCallsPerBatch: 2 * T,
                         backward: { rows, gradients, recorder in
                             _ = workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: rows,
                                                           initialState: nil, tokenCountForMean: B * T, gradients: gradients,
                                                           readiness: recorder)
                         }, batchSize: B)
        }
    }

    /// A 2-layer LSTM: the output layer first, then layer 1, then layer 0, each right after its
    /// weight gradients; W_hh.l in 2 row blocks (H = 93: [372, 93] is 34,596 elements).
    func testStackedWorkspaceReportsEachBucketWhenFinal() {
        let architecture = ModelArchitecture(cell: .lstm, layers: 2, hiddenSize: 93, vocabularySize: 7)
        let T = 6, B = 2
        let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: B, sequenceLength: T)
        XCTAssertEqual(workspace.gradientBuckets.count, 1 + 2 * (2 + 2), "W_hy+b_y; per layer 2 W_hh.l blocks, W_xh.l, b_xh.l+b_hh.l")
        let layout = ModelLayout(architecture: architecture)
        let parameters = Buffer<Float>(randomValues(count: layout.count, seed: 8, scale: 0.2).map { Float($0) })
        let inputs = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 7, seed: 9))
        let targets = Buffer<Int32>(randomTokens(count: B * T, vocabularySize: 7, seed: 10))
        checkReports(buckets: workspace.gradientBuckets, count: layout.count, progressCallsPerBatch: 2 * T,
                     backward: { rows, gradients, recorder in
                         _ = workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: rows,
                                                       initialState: nil, tokenCountForMean: B * T, gradients: gradients,
                                                       readiness: recorder)
                     }, batchSize: B)
    }
}
