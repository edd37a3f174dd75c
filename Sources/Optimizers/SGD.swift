import Buffers

/// torch.optim.SGD with dampening 0:
///
///     g ← g + wd·p
///     if μ ≠ 0:  buf ← g on the first step, else μ·buf + g
///                g ← nesterov ? g + μ·buf : buf
///     p ← p − lr·g
public final class SGD: Optimizer {
    public let count: Int
    public let momentum: Double
    public let nesterov: Bool
    public let weightDecay: Double
    public var stepCount = 0
    /// Empty when momentum is 0 (no state to keep).
    public let momentumBuffer: Buffer<Float>

    public init(count: Int, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) throws {
        try requireOptimizer(momentum >= 0 && momentum < 1, "SGD momentum must be in [0, 1), got \(momentum)")
        try requireOptimizer(weightDecay >= 0, "SGD weight decay must be non-negative, got \(weightDecay)")
        try requireOptimizer(!nesterov || momentum > 0, "SGD nesterov momentum requires momentum > 0")
        self.count = count
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        momentumBuffer = Buffer(count: momentum == 0 ? 0 : count, repeating: 0)
    }

    public var stateTensors: [(prefix: String, buffer: Buffer<Float>)] {
        momentum == 0 ? [] : [("sgd.momentum", momentumBuffer)]
    }

    public func step(parameters: Buffer<Float>, gradients: Buffer<Float>, learningRate: Float) {
        precondition(parameters.count == count && gradients.count == count,
                     "SGD over \(count) parameters got \(parameters.count) parameters and \(gradients.count) gradients")
        let p = parameters.baseAddress, g = gradients.baseAddress, buf = momentumBuffer.baseAddress
        let lr = learningRate, wd = Float(weightDecay), mu = Float(momentum)
        if mu == 0 {
            for i in 0..<count {
                p[i] -= lr * (g[i] + wd * p[i])
            }
        } else if stepCount == 0 {
            for i in 0..<count {
                let d = g[i] + wd * p[i]
                buf[i] = d
                p[i] -= lr * (nesterov ? d + mu * d : d)
            }
        } else {
            for i in 0..<count {
                let d = g[i] + wd * p[i]
                let b = mu * buf[i] + d
                buf[i] = b
                p[i] -= lr * (nesterov ? d + mu * b : b)
            }
        }
        stepCount += 1
    }
}
