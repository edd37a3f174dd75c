import Buffers

/// torch.optim.Adagrad (lr decay 0, initial accumulator 0, no weight decay):
///
///     sum ← sum + g²
///     p ← p − lr·g / (sqrt(sum) + eps)
///
/// min-char-rnn puts eps inside the square root (sqrt(sum + 1e-8)); we follow torch so
/// results compare with PyTorch runs. The difference only matters while sum is ~eps.
public final class Adagrad: Optimizer {
    public let count: Int
    public let epsilon: Double
    public var stepCount = 0
    public let sumOfSquares: Buffer<Float>

    public init(count: Int, epsilon: Double = 1e-10) throws {
        try requireOptimizer(epsilon >= 0, "Adagrad epsilon must be non-negative, got \(epsilon)")
        self.count = count
        self.epsilon = epsilon
        sumOfSquares = Buffer(count: count, repeating: 0)
    }

    public var stateTensors: [(prefix: String, buffer: Buffer<Float>)] {
        [("adagrad.sum", sumOfSquares)]
    }

    public func step(parameters: Buffer<Float>, gradients: Buffer<Float>, learningRate: Float) {
        precondition(parameters.count == count && gradients.count == count,
                     "Adagrad over \(count) parameters got \(parameters.count) parameters and \(gradients.count) gradients")
        let p = parameters.baseAddress, g = gradients.baseAddress, s = sumOfSquares.baseAddress
        let lr = learningRate, eps = Float(epsilon)
        for i in 0..<count {
            let gi = g[i]
            let si = s[i] + gi * gi
            s[i] = si
            p[i] -= lr * gi / (si.squareRoot() + eps)
        }
        stepCount += 1
    }
}
