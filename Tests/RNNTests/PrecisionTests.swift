import Buffers
import RNN
import RNNReference
import XCTest

/// The Float path (training) against the Double path (checks) on a medium model.
final class PrecisionTests: XCTestCase {
    func testFloatAndDoubleAgree() {
        let shape = RNNShape(vocabularySize: 20, hiddenSize: 32)
        let T = 10, B = 4
        let layout = tanhLayout(shape)
        let double = Buffer<Double>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(double, layout: layout, scheme: .torch, seed: 61)
        // The Float model holds the same values rounded to Float; Double computes on those.
        let float = Buffer<Float>(double.toArray().map { Float($0) })
        for i in 0..<double.count { double[i] = Double(float[i]) }
        let inputs = Buffer(randomTokens(count: B * T, vocabularySize: 20, seed: 62))
        let targets = Buffer(randomTokens(count: B * T, vocabularySize: 20, seed: 63).reversed() as [Int32])
        let h0 = randomValues(count: B * shape.hiddenSize, seed: 64, scale: 0.5)

        let gradientsD = Buffer<Double>(count: layout.count, repeating: 0)
        let gradientsF = Buffer<Float>(count: layout.count, repeating: 0)
        let lossD = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T).forwardBackward(
            parameters: double, inputs: inputs, targets: targets, batchSize: B,
            initialHidden: Buffer(h0), tokenCountForMean: B * T, gradients: gradientsD)
        let lossF = StackedBPTTWorkspace<Float>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T).forwardBackward(
            parameters: float, inputs: inputs, targets: targets, batchSize: B,
            initialHidden: Buffer(h0.map { Float($0) }), tokenCountForMean: B * T, gradients: gradientsF)

        XCTAssertLessThan(abs(lossF - lossD) / lossD, 1e-4)
        // Norm-wise per tensor: element-wise errors on near-zero components say nothing.
        for entry in layout.entries {
            let name = entry.name
            let range = entry.range
            let error = normwiseRelativeError(gradientsF.toArray(range: range).map { Double($0) },
                                              gradientsD.toArray(range: range))
            XCTAssertLessThan(error, 1e-4, "\(name)")
        }
    }
}
