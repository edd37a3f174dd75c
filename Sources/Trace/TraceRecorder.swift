import Clock

/// What a timeline event is (docs/observability.md, "Timeline"). The training track's step
/// is partitioned by `batch`, `forward`, `backward`, `allreduceWait`, `clip` and `optimizer`
/// (with gradient accumulation one forward and one backward per micro-batch); `bucket` events
/// lie on the allreduce tracks, the rest are the run's phases between steps.
public enum TracePhase: UInt8, CaseIterable, Sendable {
    case step, batch, forward, backward, allreduceWait, clip, optimizer
    case bucket
    case evaluation, checkpoint, checksum, report, stopCheck
    /// Derived when the ranks' events are merged (never recorded): the part of an allreduce
    /// wait before the step's slowest rank finished its backward pass.
    case slowestRank

    /// The event's name in the trace file.
    public var name: String {
        switch self {
        case .step: "step"
        case .batch: "batch"
        case .forward: "forward"
        case .backward: "backward"
        case .allreduceWait: "allreduce wait"
        case .clip: "clip"
        case .optimizer: "optimizer"
        case .bucket: "bucket reduction"
        case .evaluation: "evaluation"
        case .checkpoint: "checkpoint"
        case .checksum: "checksum"
        case .report: "report"
        case .stopCheck: "stop check"
        case .slowestRank: "waiting for the slowest rank"
        }
    }

    /// The event's category ("cat"): the step itself, a phase that partitions it, a bucket's
    /// reduction, or the run's work between steps.
    public var category: String {
        switch self {
        case .step: "step"
        case .batch, .forward, .backward, .allreduceWait, .clip, .optimizer: "phase"
        case .bucket: "allreduce"
        case .evaluation, .checkpoint, .checksum, .report, .stopCheck: "run"
        case .slowestRank: "wait"
        }
    }

    /// Whether the phase is one of those that partition a step.
    public var partitionsStep: Bool { category == "phase" }
}

/// Where an event happened: the training thread (forward, BPTT, the waits, the optimizer),
/// or the gradient buckets in flight on the allreduce (progressed from the training thread
/// between BPTT's time steps: there is no communication thread, MPI moves only inside calls).
public enum TraceTrack: UInt8, Sendable {
    case training
    case allreduce
}

/// One recorded interval, in this rank's monotonic seconds.
public struct TraceEvent: Sendable, Equatable {
    public var phase: TracePhase
    public var track: TraceTrack
    public var start: Double
    public var end: Double
    /// The 1-based step it belongs to (0: before the first step).
    public var step: Int32
    /// The micro-batch (forward, backward) or the bucket's index (bucket).
    public var index: Int32
    /// A bucket's size in bytes.
    public var bytes: Int

    public init(phase: TracePhase, track: TraceTrack, start: Double, end: Double, step: Int32, index: Int32, bytes: Int) {
        (self.phase, self.track, self.start, self.end, self.step, self.index, self.bytes) = (phase, track, start, end, step, index, bytes)
    }
}

/// This rank's timeline: a buffer of `capacity` events allocated once, filled in order, never
/// grown. A recorder made with `off` records nothing: every call is one branch on `isOn`,
/// decided when the run starts, so an untraced step costs nothing measurable and allocates
/// nothing; a traced one allocates nothing either (the events go into the buffer).
///
/// When the buffer fills, recording stops at a step boundary (`beginStep` keeps room for a
/// whole step) and the events not recorded are counted: the file names them (`dropped`).
public final class TraceRecorder {
    public let isOn: Bool
    public let capacity: Int
    private let events: UnsafeMutablePointer<TraceEvent>
    public private(set) var count = 0
    /// Events not recorded because the buffer was full, and the first step that lost any.
    public private(set) var dropped = 0
    public private(set) var firstDroppedStep: Int?
    private var accepting: Bool
    /// The 1-based step being recorded (what `record` attaches to each event).
    public private(set) var step: Int32 = 0
    /// This rank's monotonic clock as it entered and as it left each of the start-up barriers
    /// (`ChromeTrace.align`); the last exit is its time zero.
    public private(set) var barrierEntries: [Double] = []
    public private(set) var barrierExits: [Double] = []
    public var origin: Double { barrierExits.last ?? 0 }

    /// Events per rank when none is asked for: 40 bytes each, 4 MB per rank, which holds
    /// thousands of steps of any model (a step is 8 events plus one per bucket and
    /// micro-batch phase).
    public static let defaultCapacity = 100_000

    /// A recorder that records nothing.
    public static func off() -> TraceRecorder { TraceRecorder(isOn: false, capacity: 0) }

    /// A recorder of up to `capacity` events.
    public static func on(capacity: Int = defaultCapacity) -> TraceRecorder { TraceRecorder(isOn: true, capacity: capacity) }

    private init(isOn: Bool, capacity: Int) {
        precondition(capacity >= 0, "negative trace capacity")
        self.isOn = isOn
        self.capacity = capacity
        accepting = isOn
        events = .allocate(capacity: max(1, capacity))
    }

    deinit { events.deallocate() }

    /// The clock, or 0 when off (no clock read).
    public func now() -> Double { isOn ? MonotonicClock.seconds() : 0 }

    /// This rank's clock readings as it entered and left a series of barriers with the other
    /// ranks (the last exit is its time zero); rank 0 lines the ranks up from them when it merges.
    public func align(barrierEntries: [Double], barrierExits: [Double]) {
        precondition(barrierEntries.count == barrierExits.count, "an entry and an exit per barrier")
        (self.barrierEntries, self.barrierExits) = (barrierEntries, barrierExits)
    }

    /// Step `step` (1-based) begins. Recording stops here, for the rest of the run, when fewer
    /// than `reserving` events are left (so that no step is recorded in part).
    public func beginStep(_ step: Int, reserving: Int) {
        guard isOn else { return }
        self.step = Int32(truncatingIfNeeded: step)
        if accepting && capacity - count < reserving {
            accepting = false
            firstDroppedStep = step
        }
    }

    /// Records [start, end] on `track`.
    public func record(_ phase: TracePhase, start: Double, end: Double, track: TraceTrack = .training, index: Int = 0,
                       bytes: Int = 0) {
        guard isOn else { return }
        guard accepting && count < capacity else {
            if accepting { accepting = false; firstDroppedStep = Int(step) }
            dropped += 1
            return
        }
        events[count] = TraceEvent(phase: phase, track: track, start: start, end: end, step: step,
                                   index: Int32(truncatingIfNeeded: index), bytes: bytes)
        count += 1
    }

    /// Records [start, now].
    public func record(_ phase: TracePhase, since start: Double, track: TraceTrack = .training, index: Int = 0, bytes: Int = 0) {
        guard isOn else { return }
        record(phase, start: start, end: MonotonicClock.seconds(), track: track, index: index, bytes: bytes)
    }

    /// The recorded events, in the order they ended.
    public var recorded: [TraceEvent] { Array(UnsafeBufferPointer(start: events, count: count)) }
}
