import Buffers
import CAllocationCounter
import RNN
import RNNReference
import XCTest

/// A training step's forwardBackward and an evaluation's forward allocate nothing: every
/// buffer is the workspace's (the process-wide malloc counter of `rnn-dist bench`, linked into
/// the test binary, counts the calls). Unoptimized builds allocate in Swift's generic
/// machinery (BPTTWorkspace too: 21 per forward in debug), so the count is asserted in
/// optimized builds: `swift test -c release --disable-swift-testing --filter StackedAllocationTests`.
final class StackedAllocationTests: XCTestCase {
    func testCallsAllocateNothing() throws {
        #if DEBUG
        throw XCTSkip("allocation counts need an optimized build (swift test -c release)")
        #else
        // One-hot, an embedding (E = 16) and a tied one (E = H), the latter two with embedding dropout.
        for cell in CellKind.allCases { for (E, tied) in [(nil, false), (16, false), (32, true)] as [(Int?, Bool)] {
            let architecture = ModelArchitecture(cell: cell, layers: 2, hiddenSize: 32, vocabularySize: 11, embeddingSize: E,
                                                 tiedWeights: tied)
            let B = 4, T = 8
            let workspace = StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: B, sequenceLength: T)
            let count = workspace.layout.count
            let parameters = Buffer<Float>(randomValues(count: count, seed: 5, scale: 0.3).map { Float($0) })
            let gradients = Buffer<Float>(count: count, repeating: 0)
            let inputs = Buffer(randomTokens(count: B * T, vocabularySize: 11, seed: 6))
            let targets = Buffer(randomTokens(count: B * T, vocabularySize: 11, seed: 7))
            let state = RecurrentState<Float>(architecture: architecture, capacity: B)
            var draw = DropoutDraw(dropout: Dropout(probability: 0.25, seed: 3, embeddingDrop: E == nil ? 0 : 0.2), step: 0,
                                   sequenceIndices: [0, 1, 2, 3])
            func step() -> Double {
                workspace.forwardBackward(parameters: parameters, inputs: inputs, targets: targets, batchSize: B,
                                          initialState: state, tokenCountForMean: B * T, dropout: draw, gradients: gradients)
                    + workspace.forward(parameters: parameters, inputs: inputs, targets: targets, batchSize: B,
                                        initialState: workspace.finalState)
            }
            // Step 0 warms up (OpenBLAS's buffers, runtime metadata); steps 1…4 are counted.
            var perStep = [UInt64](repeating: 0, count: 5)
            var loss = 0.0
            for s in 0..<5 {
                let before = rnn_dist_allocation_count()
                draw.step = s
                for b in 0..<B { draw.sequenceIndices[b] = s * B + b }
                loss += step()
                perStep[s] = rnn_dist_allocation_count() - before
            }
            let allocations = perStep[1...].reduce(0, +)
            XCTAssertTrue(loss.isFinite)
            XCTAssertEqual(allocations, 0, "\(cell) E=\(E ?? 0)\(tied ? " tied" : ""): allocations per step \(perStep)")
        } }
        #endif
    }

    /// The counter counts (so the test above can fail).
    func testCounterSeesAnAllocation() {
        let before = rnn_dist_allocation_count()
        let buffer = Buffer<Float>(count: 1000, repeating: 0)
        XCTAssertGreaterThan(rnn_dist_allocation_count() - before, 0)
        XCTAssertEqual(buffer.count, 1000)
    }
}
