/// Builds the optimizer and learning-rate schedule a configuration names.
enum OptimizerFactory {
    static func make(config: TrainingConfig, count: Int) -> Optimizer {
        switch config.optimizer {
        case "sgd":
            return SGD(count: count, momentum: Float(config.momentum), nesterov: config.nesterov,
                       weightDecay: Float(config.weightDecay))
        case "adagrad":
            return Adagrad(count: count, epsilon: Float(config.eps))
        default:
            return Adam(count: count, beta1: Float(config.beta1), beta2: Float(config.beta2),
                        epsilon: Float(config.eps), weightDecay: Float(config.weightDecay))
        }
    }

    static func schedule(config: TrainingConfig, totalSteps: Int) -> LearningRateSchedule {
        config.lrSchedule == "warmup-cosine"
            ? .warmupCosine(warmupSteps: config.warmupSteps, totalSteps: totalSteps, minimumFactor: config.minLrFactor)
            : .constant
    }
}
