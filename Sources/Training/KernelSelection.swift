import Distributed
import RNN
import RunErrors

/// How a run's recurrence kernel is decided, once, before the first step (DESIGN §8): a kernel
/// the user forced (RNN_DIST_KERNEL) runs as asked; a resumed run keeps the kernel its
/// checkpoint records, so that it computes the same bits as the run it continues; otherwise
/// every rank times the candidates at the model's per-step shapes (RecurrenceKernelTuner) at
/// the same moment, under the load training will see, the ranks combine their times (each
/// candidate's slowest rank, since a step waits for it) and all choose the fastest alike.
public enum KernelSelection {
    /// What the executable asks for.
    public enum Request: Sendable, Equatable {
        /// RNN_DIST_KERNEL named a kernel.
        case forced(RecurrenceKernel)
        /// Choose by measurement (resumes keep their checkpoint's kernel).
        case measure
    }

    public struct Decision: Sendable {
        public var kernel: RecurrenceKernel
        /// The candidates' times as combined over the ranks (empty when nothing was timed).
        public var timings: [RecurrenceKernelTuner.Timing]

        /// "avx512-onepass (fastest measured at the model's shapes: avx512-onepass 101.2, avx512 95.0, … GF/s)".
        public var description: String {
            let measured = timings.filter { $0.secondsPerStep.isFinite }.sorted { $0.secondsPerStep < $1.secondsPerStep }
            guard !measured.isEmpty else { return kernel.description }
            let list = measured.map { "\($0.kernel) \(String(format: "%.1f", $0.gflops))" }.joined(separator: ", ")
            return "\(kernel.description); GF/s per step: \(list)"
        }
    }

    /// The kernel of this run. `recorded`: the name the resumed checkpoint stores (nil for a
    /// fresh run or an older checkpoint, which then measures).
    public static func decide(_ request: Request, recorded: String?, architecture: ModelArchitecture, batchPerRank: Int,
                              sequenceLength: Int, collectives: Collectives) throws -> Decision {
        switch request {
        case .forced(let kernel):
            return Decision(kernel: kernel, timings: [])
        case .measure:
            if let recorded {
                guard let kernel = RecurrenceKernel(name: recorded, origin: .checkpoint) else {
                    throw RunError.badInput("the checkpoint was trained with the recurrence kernel \(recorded), which this CPU "
                        + "cannot run; set \(RecurrenceKernel.environmentVariable) to one it can (\(RecurrenceKernel.allSupported.map(\.name).joined(separator: ", "))) "
                        + "to continue with other rounding")
                }
                return Decision(kernel: kernel, timings: [])
            }
            let shape = RecurrenceKernelTuner.Shape(gates: architecture.cell.gateCount, hiddenSize: architecture.hiddenSize,
                                                    batchSize: batchPerRank, sequenceLength: sequenceLength)
            // Every rank takes the same branch: the shape is the same everywhere.
            let local = RecurrenceKernelTuner.measure(shape)
            guard !local.isEmpty else { return Decision(kernel: .best, timings: []) }
            var seconds = local.map(\.secondsPerStep)
            try collectives.allreduce(&seconds, op: .max, label: "kernel timings", step: 0)
            let combined = zip(local, seconds).map { RecurrenceKernelTuner.timing($0.kernel, secondsPerStep: $1, shape: shape) }
            return Decision(kernel: RecurrenceKernelTuner.choice(from: combined), timings: combined)
        }
    }
}
