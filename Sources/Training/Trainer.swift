import BLASCore
import Config
import Distributed
import MPI
import Reporting
import RNN

/// Synchronous data-parallel training (docs/design.md §1): every rank runs forward and BPTT on its
/// shard, one allreduce sums the token-weighted gradients, every rank applies the same step.
///
/// The loop reads as a PyTorch DDP loop does; each phase is a method of `TrainingRun`.
public final class Trainer {
    public let config: TrainingConfig
    private let collectives: Collectives
    private let output: ProgressOutput?
    private let hooks: TrainingHooks
    private let kernels: ComputeKernels

    /// `output`: where rank 0's progress goes (nil: nowhere). `hooks`: fault injection for tests.
    /// `kernels`: what computes (the executable's choice, made once). The stop signals are the
    /// caller's to install, before MPI starts.
    public init(config: TrainingConfig, world: Communicator, output: ProgressOutput?, hooks: TrainingHooks = TrainingHooks(),
                kernels: ComputeKernels) {
        self.config = config
        self.kernels = kernels
        self.output = output
        self.hooks = hooks
        let watchdog = CollectiveWatchdog(world: world, timeoutSeconds: config.collectiveTimeout)
        collectives = Collectives(world: world, watchdog: watchdog, checkFingerprints: config.checkCollectives)
    }

    public func run() throws -> TrainingSummary {
        collectives.watchdog.start()
        // Every rank's host, once, so that a stall names the rank and host it waits for.
        let world = collectives.world
        collectives.watchdog.setHosts(try collectives.watchdog.guarding("host exchange", step: 0) { try world.hosts() })
        let run = try TrainingRun(config: config, collectives: collectives, output: output, hooks: hooks, kernels: kernels)
        for step in run.steps {
            try run.trainStep(step)               // sample → forward/backward → allreduce → clip → step
            try run.verifyChecksumIfDue(step)     // parameters identical on every rank?
            let validation = try run.evaluateIfDue(step)
            try run.reportIfDue(step, validationLoss: validation)
            try run.checkpointIfDue(step)
            try run.stopIfSignalled(step)         // preemption: checkpoint and stop, all ranks at once
            if run.stoppedEarly { break }         // early-stop: the validation loss, the same on every rank
        }
        return try run.finish()
    }
}

/// The kernels a run computes with, chosen once by the executable (RNN_DIST_KERNEL; OpenBLAS's
/// kernel, chosen at start-up) and named in the run header.
public struct ComputeKernels: Sendable {
    /// The per-step recurrence kernel of every workspace: forced (RNN_DIST_KERNEL), or measured
    /// at the start of the run (KernelSelection).
    public var recurrence: KernelSelection.Request
    /// Which OpenBLAS kernel runs the GEMMs, and who chose it.
    public var blas: BLASCoreReport

    public init(recurrence: KernelSelection.Request, blas: BLASCoreReport) {
        self.recurrence = recurrence
        self.blas = blas
    }
}
