import ArgumentParser
import CAllocationCounter
import Foundation
import Training
#if canImport(Glibc)
import Glibc
#endif

/// Hidden flags that make faults happen on purpose, so that the tests can prove each fault is
/// handled. They become `TrainingHooks`: the training loop itself has no debug branches.
struct DebugFlags: ParsableArguments {
    @Option(name: .customLong("debug-perturb-rank"), help: .hidden)
    var perturbRank: Int?          // after the first step, this rank nudges one parameter (the checksum must catch it)
    @Option(name: .customLong("debug-trace-shards"), help: .hidden)
    var traceShardsDirectory: String?  // each rank writes the sequence indices it trained on to DIR/rank-R.txt
    @Option(name: .customLong("debug-pid-dir"), help: .hidden)
    var pidDirectory: String?      // each rank writes its process id to DIR/rank-R.pid once training starts
    @Option(name: .customLong("debug-nan-at-step"), help: .hidden)
    var nanAtStep: Int?            // at this step (1-based), rank 0's gradient becomes NaN before the allreduce
    @Option(name: .customLong("debug-step-delay"), help: .hidden)
    var stepDelay: Double?         // seconds each rank sleeps after every step (a run long enough to interrupt)
    @Option(name: .customLong("debug-mismatch-rank"), help: .hidden)
    var mismatchRank: Int?         // this rank calls one extra collective at step 2 (check-collectives must name it)
    @Option(name: .customLong("debug-allocation-trace"), help: .hidden)
    var allocationTraceDirectory: String?  // each rank writes the process's allocation count after every step to DIR/rank-R.txt

    func hooks() -> TrainingHooks {
        let trace = ShardTrace(directory: traceShardsDirectory)
        let allocations = allocationTraceDirectory.map(AllocationTrace.init)
        var hooks = TrainingHooks()
        if pidDirectory != nil || traceShardsDirectory != nil {
            hooks.runStarting = { rank, sequenceCount in
                if let directory = pidDirectory {
                    try String(getpid()).write(toFile: "\(directory)/rank-\(rank).pid", atomically: true, encoding: .utf8)
                }
                try trace.open(rank: rank, sequenceCount: sequenceCount)
            }
        }
        if nanAtStep != nil || mismatchRank != nil {
            hooks.gradientsComputed = { step in
                if step.step + 1 == nanAtStep && step.rank == 0 { step.gradients[0] = .nan }
                if step.step == 1 && step.rank == mismatchRank {
                    _ = try step.collectives.allreduce(1, op: .sum, label: "debug extra collective", step: step.step + 1)
                }
            }
        }
        if perturbRank != nil || traceShardsDirectory != nil || stepDelay != nil || allocations != nil {
            hooks.stepFinished = { step in
                allocations?.record(step: step.step)  // first, before anything below can allocate
                trace.write(step: step.step, shard: step.shard)
                if step.step == step.firstStep && step.rank == perturbRank { step.parameters[0] += 1e-3 }
                if let delay = stepDelay { usleep(UInt32(delay * 1e6)) }
            }
        }
        if let allocations {
            hooks.runFinished = { rank in try allocations.write(rank: rank) }
        }
        return hooks
    }
}

/// The process-wide allocation count (CAllocationCounter's malloc interposer) after every
/// step, kept in a buffer allocated up front so that recording allocates nothing; written
/// at the end to DIR/rank-R.txt: one line per step, "STEP COUNT".
private final class AllocationTrace {
    private static let capacity = 1 << 16  // steps recorded; later ones are dropped
    private let directory: String
    private let steps = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
    private let counts = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
    private var recorded = 0

    init(directory: String) { self.directory = directory }

    deinit {
        steps.deallocate()
        counts.deallocate()
    }

    func record(step: Int) {
        let count = rnn_dist_allocation_count()
        guard recorded < Self.capacity else { return }
        steps[recorded] = step
        counts[recorded] = count
        recorded += 1
    }

    func write(rank: Int) throws {
        let lines = (0..<recorded).map { "\(steps[$0]) \(counts[$0])\n" }.joined()
        try lines.write(toFile: "\(directory)/rank-\(rank).txt", atomically: true, encoding: .utf8)
    }
}

/// DIR/rank-R.txt: "sequences N", then one line per step: the step and this rank's indices.
private final class ShardTrace {
    private let directory: String?
    private var handle: FileHandle?

    init(directory: String?) { self.directory = directory }

    func open(rank: Int, sequenceCount: Int) throws {
        guard let directory else { return }
        let path = "\(directory)/rank-\(rank).txt"
        try Data("sequences \(sequenceCount)\n".utf8).write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        self.handle = handle
    }

    func write(step: Int, shard: [Int]) {
        handle?.write(Data((["\(step)"] + shard.map(String.init)).joined(separator: " ").appending("\n").utf8))
    }
}
