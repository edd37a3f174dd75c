import Buffers
import MPI
import RunErrors

/// The trainer's view of the communicator: every collective runs under the watchdog and,
/// with `check-collectives`, first proves that all ranks are making the same call.
///
/// Why the fingerprint: when ranks disagree on the step, the element count or the operation,
/// MPI either hangs or silently reduces mismatched data. One tiny allreduce of (min, max)
/// over (step, count, operation) turns that into a clear error naming the disagreement.
public struct Collectives {
    public let world: Communicator
    public let watchdog: CollectiveWatchdog
    public let checkFingerprints: Bool
    /// One-value agreements (the per-step stop agreement) without allocating.
    private let scalar: ScalarAllreduce<Int>

    public init(world: Communicator, watchdog: CollectiveWatchdog, checkFingerprints: Bool) {
        self.world = world
        self.watchdog = watchdog
        self.checkFingerprints = checkFingerprints
        scalar = ScalarAllreduce(communicator: world)
    }

    public var rank: Int { world.rank }
    public var size: Int { world.size }
    public var isRoot: Bool { world.isRoot }

    public func allreduce<T: MPIScalar>(_ buffer: Buffer<T>, op: ReductionOperation, label: String, step: Int) throws {
        try verify(label, step: step, count: buffer.count, op: op)
        try watchdog.guarding(label, step: step) { try world.allreduce(buffer, op: op) }
    }

    /// The gradient allreduce, a sum over the algorithm's preallocated scratch (allocation-free):
    /// completes a round of `allreduce` (begun, its pieces ready — and progressed while the
    /// backward pass ran, when it overlaps): blocks under the watchdog until all are summed.
    /// `whileWaiting`: useful work for the time a neighbour is still computing (see
    /// RingAllreduce.finish).
    public func finishSum(_ allreduce: any PiecewiseAllreduce, label: String, step: Int, whileWaiting: () -> Bool = { false }) throws {
        try verify(label, step: step, count: allreduce.count, op: .sum)
        try watchdog.guarding(label, step: step, peers: allreduce.wait) { try allreduce.finish(whileWaiting: whileWaiting) }
    }

    public func allreduce<T: MPIScalar>(_ values: inout [T], op: ReductionOperation, label: String, step: Int) throws {
        try verify(label, step: step, count: values.count, op: op)
        try watchdog.guarding(label, step: step) { try world.allreduce(&values, op: op) }
    }

    /// One value agreed over the ranks; allocation-free, so that it can run every step.
    public func allreduce(_ value: Int, op: ReductionOperation, label: String, step: Int) throws -> Int {
        try verify(label, step: step, count: 1, op: op)
        return try watchdog.guarding(label, step: step) { try scalar(value, op: op) }
    }

    public func broadcast<T: MPIScalar>(_ buffer: Buffer<T>, root: Int, label: String, step: Int) throws {
        try verify(label, step: step, count: buffer.count, op: nil)
        try watchdog.guarding(label, step: step) { try world.broadcast(buffer, root: root) }
    }

    /// Compares (step, count, operation) across ranks; throws a fault naming what differs.
    private func verify(_ label: String, step: Int, count: Int, op: ReductionOperation?) throws {
        guard checkFingerprints, world.size > 1 else { return }
        let opCode: Int
        switch op {
        case .sum: opCode = 1
        case .max: opCode = 2
        case .min: opCode = 3
        case nil: opCode = 4
        }
        let fingerprint = [step, count, opCode, label.utf8.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xffff_ffff }]
        var extremes = fingerprint + fingerprint.map { -$0 }
        try watchdog.guarding("fingerprint of \(label)", step: step) { try world.allreduce(&extremes, op: .min) }
        let names = ["step", "element count", "operation", "collective"]
        for (index, name) in names.enumerated() {
            let (lowest, highest) = (extremes[index], -extremes[index + names.count])
            if lowest != highest {
                throw RunError.fault("collective mismatch before \(label) at step \(step): ranks disagree on the \(name) "
                    + "(from \(lowest) to \(highest)); this rank has \(fingerprint[index])")
            }
        }
    }
}
