import Buffers
import Distributed

/// Places where a caller can reach into a run, at fixed points of the loop. The tests use them
/// (through the executable's hidden --debug-* flags) to make faults happen on purpose — a NaN
/// gradient, a drifted parameter, a mismatched collective, a slow rank — and prove that each
/// is handled. A production run passes `TrainingHooks()` and the loop calls nothing.
public struct TrainingHooks {
    /// What a hook may look at and change.
    public struct Step {
        /// 0-based index of the step; `step + 1` steps are complete after it.
        public let step: Int
        /// The first step of this process (a resumed run starts past 0).
        public let firstStep: Int
        public let rank: Int
        public let parameters: Buffer<Float>
        public let gradients: Buffer<Float>
        /// The dataset (or stream) indices of this rank's batch.
        public let shard: [Int]
        public let collectives: Collectives
    }

    /// Once, before the first step, with this rank and the number of training sequences
    /// (full BPTT; 0 for streams) it could draw from.
    public var runStarting: ((_ rank: Int, _ sequenceCount: Int) throws -> Void)?
    /// After this rank's gradient is computed, before the allreduce.
    public var gradientsComputed: ((Step) throws -> Void)?
    /// After the optimizer step.
    public var stepFinished: ((Step) throws -> Void)?
    /// Once, after the last step, with this rank (not after a failed or preempted run).
    public var runFinished: ((_ rank: Int) throws -> Void)?

    public init(runStarting: ((Int, Int) throws -> Void)? = nil, gradientsComputed: ((Step) throws -> Void)? = nil,
                stepFinished: ((Step) throws -> Void)? = nil) {
        self.runStarting = runStarting
        self.gradientsComputed = gradientsComputed
        self.stepFinished = stepFinished
    }
}
