import Buffers
import CUpdate
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// torch.optim.Adam (amsgrad off), weight decay as L2 added to the gradient, or with
/// `decay: .decoupled` torch.optim.AdamW (Loshchilov & Hutter), which shrinks the parameters
/// instead, p ← p·(1 − lr·wd), and leaves the gradient alone, so that the decay is not divided
/// by sqrt(v) (a weight with small gradients is not decayed more):
///
///     g ← g + wd·p                       (L2; decoupled: p ← p·(1 − lr·wd) first, g unchanged)
///     m ← m + (1 − β1)·(g − m)           (torch's lerp form of β1·m + (1 − β1)·g)
///     v ← β2·v + (1 − β2)·g²
///     p ← p − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps),   t = stepCount + 1
///
/// The loop is CUpdate's rnn_adam_step (SSE2, exact IEEE operations in this order).
public final class Adam: Optimizer {
    public let count: Int
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    public let weightDecay: Double
    public let decay: WeightDecayMode
    public var stepCount = 0
    public let firstMoment: Buffer<Float>
    public let secondMoment: Buffer<Float>

    public init(count: Int, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0,
                decay: WeightDecayMode = .l2) throws {
        try requireOptimizer(beta1 >= 0 && beta1 < 1, "Adam beta1 must be in [0, 1), got \(beta1)")
        try requireOptimizer(beta2 >= 0 && beta2 < 1, "Adam beta2 must be in [0, 1), got \(beta2)")
        try requireOptimizer(epsilon >= 0, "Adam epsilon must be non-negative, got \(epsilon)")
        try requireOptimizer(weightDecay >= 0, "Adam weight decay must be non-negative, got \(weightDecay)")
        self.count = count
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decay = decay
        firstMoment = Buffer(count: count, repeating: 0)
        secondMoment = Buffer(count: count, repeating: 0)
    }

    public var stateTensors: [(prefix: String, buffer: Buffer<Float>)] {
        [("adam.m", firstMoment), ("adam.v", secondMoment)]
    }

    public func step(parameters: Buffer<Float>, gradients: Buffer<Float>, learningRate: Float) {
        precondition(parameters.count == count && gradients.count == count,
                     "Adam over \(count) parameters got \(parameters.count) parameters and \(gradients.count) gradients")
        let t = Double(stepCount + 1)
        // Scalars in double, rounded to float once, as torch computes them in Python floats
        // (1 − β2 computed in float would be off by 1e-5 relative).
        let stepSize = Float(Double(learningRate) / (1 - pow(beta1, t)))
        let correction2 = Float((1 - pow(beta2, t)).squareRoot())
        let b1c = Float(1 - beta1), b2 = Float(beta2), b2c = Float(1 - beta2), eps = Float(epsilon)
        let wd: Float
        switch decay {
        case .l2:
            wd = Float(weightDecay)
        case .decoupled:
            wd = 0
            // torch: param.mul_(1 − lr·weight_decay), the factor computed in double, applied in float.
            if weightDecay > 0 {
                let shrink = Float(1 - Double(learningRate) * weightDecay)
                let p = parameters.baseAddress
                for i in 0..<count { p[i] *= shrink }
            }
        }
        rnn_adam_step(parameters.baseAddress, gradients.baseAddress, firstMoment.baseAddress, secondMoment.baseAddress, count,
                      b1c, b2, b2c, wd, stepSize, correction2, eps)
        stepCount += 1
    }
}
