import Buffers
import RNN
import RNNReference
import XCTest

/// The batch dimension: batching, sharding with the global token count (docs/design.md §4), and
/// batch sizes 0 and below the maximum.
final class BatchingTests: XCTestCase {
    let shape = RNNShape(vocabularySize: 6, hiddenSize: 9)
    let T = 5

    private func run(_ workspace: StackedBPTTWorkspace<Double>, _ parameters: Buffer<Double>,
                     inputs: [Int32], targets: [Int32], batchSize: Int, h0: [Double]?, tokenCount: Int)
    -> (loss: Double, gradient: [Double]) {
        let gradients = Buffer<Double>(count: parameters.count, repeating: .nan)
        let loss = workspace.forwardBackward(parameters: parameters, inputs: Buffer(inputs), targets: Buffer(targets),
                                             batchSize: batchSize, initialHidden: h0.map { Buffer($0) },
                                             tokenCountForMean: tokenCount, gradients: gradients)
        return (loss, gradients.toArray())
    }

    func testBatchEqualsSumOfSingleSequences() {
        let B = 4, H = shape.hiddenSize
        let parameters = randomParameters(Double.self, shape: shape, seed: 21, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 6, seed: 22)
        let targets = randomTokens(count: B * T, vocabularySize: 6, seed: 23).reversed() as [Int32]
        let h0 = randomValues(count: B * H, seed: 24, scale: 0.7)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        let batched = run(workspace, parameters, inputs: inputs, targets: targets, batchSize: B, h0: h0, tokenCount: B * T)

        var loss = 0.0
        var sum = [Double](repeating: 0, count: parameters.count)
        for b in 0..<B {
            let single = run(workspace, parameters, inputs: Array(inputs[b * T..<(b + 1) * T]),
                             targets: Array(targets[b * T..<(b + 1) * T]), batchSize: 1,
                             h0: Array(h0[b * H..<(b + 1) * H]), tokenCount: B * T)
            loss += single.loss
            for i in sum.indices { sum[i] += single.gradient[i] }
        }
        XCTAssertEqual(batched.loss, loss, accuracy: 1e-12 * loss)
        XCTAssertLessThan(normwiseRelativeError(batched.gradient, sum), 1e-12)
    }

    /// Two "ranks" with uneven shards (3 and 2 sequences), each dividing by the GLOBAL token
    /// count: their gradients add up to the full-batch gradient of the mean loss.
    func testShardGradientsWithGlobalTokenCountSumToFullBatchGradient() {
        let B = 5
        let parameters = randomParameters(Double.self, shape: shape, seed: 31, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 6, seed: 32)
        let targets = randomTokens(count: B * T, vocabularySize: 6, seed: 33).reversed() as [Int32]
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        let full = run(workspace, parameters, inputs: inputs, targets: targets, batchSize: B, h0: nil, tokenCount: B * T)
        let rank0 = run(workspace, parameters, inputs: Array(inputs[0..<3 * T]), targets: Array(targets[0..<3 * T]),
                        batchSize: 3, h0: nil, tokenCount: B * T)
        let rank1 = run(workspace, parameters, inputs: Array(inputs[(3 * T)...]), targets: Array(targets[(3 * T)...]),
                        batchSize: 2, h0: nil, tokenCount: B * T)
        let summed = zip(rank0.gradient, rank1.gradient).map { $0 + $1 }
        XCTAssertLessThan(normwiseRelativeError(summed, full.gradient), 1e-12)
        XCTAssertEqual(rank0.loss + rank1.loss, full.loss, accuracy: 1e-12 * full.loss)

        // And the count really scales: the local count would give a different (larger) gradient.
        let local = run(workspace, parameters, inputs: Array(inputs[0..<3 * T]), targets: Array(targets[0..<3 * T]),
                        batchSize: 3, h0: nil, tokenCount: 3 * T)
        XCTAssertLessThan(normwiseRelativeError(local.gradient.map { $0 * 3 / 5 }, rank0.gradient), 1e-12)
    }

    func testBatchSizeZeroGivesZeroLossAndZeroGradients() {
        let parameters = randomParameters(Double.self, shape: shape, seed: 41, scale: 0.5)
        let workspace = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: 3, sequenceLength: T)
        let result = run(workspace, parameters, inputs: [], targets: [], batchSize: 0, h0: nil, tokenCount: 0)
        XCTAssertEqual(result.loss, 0)
        XCTAssertTrue(result.gradient.allSatisfy { $0 == 0 })
        XCTAssertEqual(workspace.forward(parameters: parameters, inputs: Buffer([]), targets: Buffer([]),
                                         batchSize: 0, initialHidden: nil), 0)
    }

    func testBatchSizeBelowMaximumMatchesExactlySizedWorkspace() {
        let B = 3
        let parameters = randomParameters(Double.self, shape: shape, seed: 51, scale: 0.5)
        let inputs = randomTokens(count: B * T, vocabularySize: 6, seed: 52)
        let targets = randomTokens(count: B * T, vocabularySize: 6, seed: 53)
        let h0 = randomValues(count: B * shape.hiddenSize, seed: 54, scale: 0.5)
        let exact = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        let larger = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: 7, sequenceLength: T)
        // Run the larger workspace at full size first, so stale rows would show.
        let filler = randomTokens(count: 7 * T, vocabularySize: 6, seed: 55)
        _ = run(larger, parameters, inputs: filler, targets: filler, batchSize: 7, h0: nil, tokenCount: 7 * T)

        let a = run(exact, parameters, inputs: inputs, targets: targets, batchSize: B, h0: h0, tokenCount: B * T)
        let b = run(larger, parameters, inputs: inputs, targets: targets, batchSize: B, h0: h0, tokenCount: B * T)
        XCTAssertEqual(a.loss, b.loss, accuracy: 1e-13 * a.loss)
        XCTAssertLessThan(normwiseRelativeError(b.gradient, a.gradient), 1e-13)
        let H = shape.hiddenSize
        XCTAssertEqual(larger.finalHidden.toArray(range: 0..<B * H), exact.finalHidden.toArray(range: 0..<B * H))
    }
}
