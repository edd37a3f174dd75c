import Clock
import Buffers
import MPI
import RNN
import Config
import Distributed
import Trace

/// The communication and gradient policy of one step (docs/design.md §4): local clipping (if
/// chosen), ONE in-place allreduce(SUM) of the flat gradient buffer, then the non-finite
/// check and global clipping, identical on every rank because every rank holds the same sum.
///
/// Every step's round begins before the forward pass (`begin`: the ring's pieces, planned once
/// from the workspace's buckets by GradientBuckets, are declared and their receives posted, so
/// that no neighbour's message arrives unexpected). Overlap: with `overlap`, `begin` also hands
/// the workspace a GradientReadiness that marks each finished piece ready and moves the ring on
/// at every time step, and `synchronize` only waits for the rest; without it, all pieces become
/// ready after BPTT. The ring sums every element in the same order either way.
package struct GradientSynchronizer {
    package enum Outcome {
        case apply(gradientNormBeforeClip: Double, clipped: Bool)
        case skip(gradientNormBeforeClip: Double)
    }

    package let collectives: Collectives
    package let clipMode: ClipMode
    package let clipThreshold: Double
    package let clipScope: ClipScope
    /// Preallocated allreduce over the gradient buffer's size (ring, two-level or the library's),
    /// the algorithm it runs, and the hosts it runs on.
    package let ring: any PiecewiseAllreduce
    package let algorithm: AllreduceAlgorithm
    package let topology: HostTopology
    /// Two-level: how it crosses hosts and the times that chose it (nil for other algorithms).
    package let crossHost: CrossHostChoice?
    /// Whether the allreduce may overlap the backward pass: asked for, more than one rank, and
    /// no local clipping (which needs this rank's whole gradient before anything is sent).
    package let overlaps: Bool
    private let reduction: OverlappedReduction
    /// The timeline (off: records nothing).
    private let trace: TraceRecorder

    package init(collectives: Collectives, clipMode: ClipMode, clipThreshold: Double, clipScope: ClipScope,
                 gradientCount: Int, overlap: Bool, algorithm: AllreduceAlgorithm,
                 crossHost crossHostMode: TwoLevelCrossHostMode = .auto, topology: HostTopology,
                 trace: TraceRecorder = .off()) throws {
        self.collectives = collectives
        self.clipMode = clipMode
        self.clipThreshold = clipThreshold
        self.clipScope = clipScope
        self.algorithm = algorithm
        self.topology = topology
        let world = collectives.world
        switch (algorithm, crossHostMode) {
        case (.twoLevel, .auto):
            // Under the watchdog, as every collective of a run: a rank lost at start ends the run.
            // The timed instance of the faster stage is the run's.
            let label = "two-level cross-host timing"
            let measured = try CrossHostChoice.measure(
                count: gradientCount, world: world, topology: topology,
                finish: { try collectives.finishSum($0, label: label, step: 0) },
                align: { _ in _ = try collectives.allreduce(0, op: .sum, label: label, step: 0) },
                slowest: { try collectives.allreduce(&$0, op: .max, label: label, step: 0) })
            (crossHost, ring) = (measured.choice, measured.allreduce)
        case (.twoLevel, .rings):
            crossHost = CrossHostChoice(stage: .ringPerLocalRank, secondsRings: nil, secondsLeaders: nil, untimedReason: "chosen")
            ring = algorithm.make(count: gradientCount, world: world, topology: topology, crossHost: .ringPerLocalRank)
        case (.twoLevel, .leaders):
            crossHost = CrossHostChoice(stage: .hostLeaders, secondsRings: nil, secondsLeaders: nil, untimedReason: "chosen")
            ring = algorithm.make(count: gradientCount, world: world, topology: topology, crossHost: .hostLeaders)
        case (.ring, _), (.library, _):
            crossHost = nil
            ring = algorithm.make(count: gradientCount, world: world, topology: topology)
        }
        overlaps = overlap && collectives.size > 1 && clipScope == .global
        reduction = OverlappedReduction(ring: ring)
        self.trace = trace
        if trace.isOn { ring.observer = BucketTrace(recorder: trace, maxPieces: ring.maxPieces) }
    }

    /// Plans the ring's pieces from the workspace's buckets (once, before the first step).
    package func prepare(buckets: [Range<Int>]) {
        reduction.buckets = GradientBuckets(buckets: buckets, count: ring.count, maxPieces: ring.maxPieces)
    }

    /// The pieces (buckets) of a step's round.
    package var pieceCount: Int { reduction.buckets.pieces.count }

    /// Starts the step's round over `gradients`; returns what the backward pass reports to
    /// when this step overlaps (the run does, and `mayOverlap`), else nil.
    package func begin(_ gradients: Buffer<Float>, mayOverlap: Bool) throws -> GradientReadiness? {
        guard collectives.size > 1 else { return nil }
        try reduction.begin(gradients)
        return overlaps && mayOverlap ? reduction : nil
    }

    /// `localTokenFraction`: this rank's share of the global tokens; local clipping applies
    /// the threshold to the rank's own mean gradient, which is its share divided by it.
    /// `overlapped`: the backward pass marked the buckets ready as it went; else they all
    /// become ready now. `whileWaiting`: work for the time the allreduce waits for a neighbour.
    package func synchronize(_ gradients: Buffer<Float>, localTokenFraction: Double, step: Int, overlapped: Bool,
                             whileWaiting: () -> Bool = { false }) throws -> (Outcome, allreduceSeconds: Double) {
        if clipScope == .local, localTokenFraction > 0 {
            let clipStart = trace.now()
            switch clipMode {
            case .norm: GradientClipping.clipByGlobalNorm(gradients, maxNorm: clipThreshold * localTokenFraction)
            case .value: GradientClipping.clipByValue(gradients, limit: clipThreshold * localTokenFraction)
            case .none: break
            }
            trace.record(.clip, since: clipStart)
        }
        let start = MonotonicClock.seconds()
        if collectives.size > 1 {
            if !overlapped { ring.readyAll() }
            try collectives.finishSum(ring, label: "gradient allreduce", step: step, whileWaiting: whileWaiting)
        }
        let end = MonotonicClock.seconds()
        let allreduceSeconds = end - start
        // Where the step blocks for the slowest rank (and for the buckets still in flight).
        trace.record(.allreduceWait, start: start, end: end)
        defer { trace.record(.clip, since: end) }

        let norm: Double
        var clipped = false
        switch (clipScope, clipMode) {
        case (.global, .norm):
            norm = GradientClipping.clipByGlobalNorm(gradients, maxNorm: clipThreshold)
            clipped = norm > clipThreshold
        case (.global, .value):
            norm = GradientClipping.l2Norm(gradients)
            if norm.isFinite { clipped = GradientClipping.clipByValue(gradients, limit: clipThreshold) > 0 }
        case (.local, _), (.global, .none):
            norm = GradientClipping.l2Norm(gradients)
        }
        guard norm.isFinite else { return (.skip(gradientNormBeforeClip: norm), allreduceSeconds) }
        return (.apply(gradientNormBeforeClip: norm, clipped: clipped), allreduceSeconds)
    }
}

extension AllreduceMode {
    /// The algorithm this choice runs on `topology` (auto: AllreduceAlgorithm.automatic).
    package func algorithm(on topology: HostTopology) -> AllreduceAlgorithm {
        switch self {
        case .auto: return .automatic(for: topology)
        case .ring: return .ring
        case .twoLevel: return .twoLevel
        case .mpi: return .library
        }
    }
}
