import Buffers
import RNN
import RNNReference
import XCTest

/// BPTTWorkspace's Float forward+backward with each kernel path forced, against the Double
/// gradient (BLAS recurrence, libm tanh) of the same Float-rounded parameters, at a shape that
/// is not a multiple of any vector width (H = 37) with a partial row tile (B = 7).
final class RecurrenceKernelTrainingTests: XCTestCase {
    func testFloatForwardBackwardWithEveryKernelMatchesDouble() throws {
        let shape = RNNShape(vocabularySize: 23, hiddenSize: 37)
        let T = 9, B = 7
        let layout = tanhLayout(shape)
        let double = Buffer<Double>(count: layout.count, repeating: 0)
        ParameterInitializer.initialize(double, layout: layout, scheme: .torch, seed: 91)
        let float = Buffer<Float>(double.toArray().map { Float($0) })
        for i in 0..<double.count { double[i] = Double(float[i]) }
        let inputs = Buffer(randomTokens(count: B * T, vocabularySize: 23, seed: 92))
        let targets = Buffer(randomTokens(count: B * T, vocabularySize: 23, seed: 93).reversed() as [Int32])
        let h0 = randomValues(count: B * shape.hiddenSize, seed: 94, scale: 0.5)

        let gradientsD = Buffer<Double>(count: layout.count, repeating: 0)
        let reference = StackedBPTTWorkspace<Double>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T)
        let lossD = reference.forwardBackward(parameters: double, inputs: inputs, targets: targets, batchSize: B,
                                              initialHidden: Buffer(h0), tokenCountForMean: B * T, gradients: gradientsD)
        for path in RecurrenceKernelPath.allCases where path.isSupported {
            let workspace = StackedBPTTWorkspace<Float>(architecture: ModelArchitecture(shape: shape), maxBatchSize: B, sequenceLength: T,
                                                 kernel: try RecurrenceKernel(path: path))
            let gradientsF = Buffer<Float>(count: layout.count, repeating: .nan)
            // Twice: the second call must not depend on state left by the first (packing, dh).
            for _ in 0..<2 {
                let lossF = workspace.forwardBackward(
                    parameters: float, inputs: inputs, targets: targets, batchSize: B,
                    initialHidden: Buffer(h0.map { Float($0) }), tokenCountForMean: B * T, gradients: gradientsF)
                XCTAssertLessThan(abs(lossF - lossD) / lossD, 1e-5, "\(path)")
                for entry in layout.entries {
            let name = entry.name
                    let range = entry.range
                    let error = normwiseRelativeError(gradientsF.toArray(range: range).map { Double($0) },
                                                      gradientsD.toArray(range: range))
                    XCTAssertLessThan(error, 1e-4, "\(path) \(name)")
                }
            }
            let evaluation = workspace.forward(parameters: float, inputs: inputs, targets: targets, batchSize: B,
                                               initialHidden: Buffer(h0.map { Float($0) }))
            XCTAssertLessThan(abs(evaluation - lossD) / lossD, 1e-5, "\(path) forward only")
            for i in 0..<B * shape.hiddenSize {
                XCTAssertEqual(Double(workspace.finalHidden[i]), reference.finalHidden[i], accuracy: 1e-5, "\(path) h_T[\(i)]")
            }
        }
    }
}
