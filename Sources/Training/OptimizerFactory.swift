import Config
import Optimizers
/// Builds the optimizer and learning-rate schedule a configuration names.
package enum OptimizerFactory {
    package static func make(config: TrainingConfig, count: Int) throws -> Optimizer {
        switch config.optimizer {
        case .sgd:
            return try SGD(count: count, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay)
        case .adagrad:
            return try Adagrad(count: count, epsilon: config.eps)
        case .adam:
            return try Adam(count: count, beta1: config.beta1, beta2: config.beta2, epsilon: config.eps,
                            weightDecay: config.weightDecay, decay: config.weightDecayMode)
        }
    }

    package static func schedule(config: TrainingConfig, totalSteps: Int) -> LearningRateSchedule {
        switch config.lrSchedule {
        case .constant, .plateau: .constant
        case .warmupCosine: .warmupCosine(warmupSteps: config.warmupSteps, totalSteps: totalSteps, minimumFactor: config.minLrFactor)
        }
    }
}
