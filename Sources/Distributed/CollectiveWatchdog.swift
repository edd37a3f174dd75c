import Clock
import Foundation
import MPI
import Synchronization

/// Ends the job when a collective has not completed within the timeout: a stalled rank
/// (stopped, swapping, stuck in I/O) would otherwise leave every other rank blocked in MPI
/// forever. A background thread looks at the start time of the collective in progress.
public final class CollectiveWatchdog: @unchecked Sendable {
    public let timeoutSeconds: Double
    private let world: Communicator
    /// Start of the collective in progress, as bits of a monotonic Double; 0 when none is.
    private let startedAt = Atomic<UInt64>(0)
    /// Step and label of the collective in progress, for the message.
    private let step = Atomic<Int>(0)
    private let labelIndex = Atomic<Int>(0)
    private let labels: Mutex<[String]> = Mutex([])
    private var thread: Thread?

    /// What the watchdog does with what it finds. The executable installs them once at start
    /// (as swift-log's LoggingSystem.bootstrap does); this module only composes the messages.
    public struct Actions: Sendable {
        /// Ends the whole job after saying `message` (e.g. print it, then MPI_Abort).
        public var abortJob: @Sendable (_ world: Communicator, _ message: String) -> Never

        public init(abortJob: @escaping @Sendable (Communicator, String) -> Never) {
            self.abortJob = abortJob
        }
    }

    private static let actions = Mutex(Actions(abortJob: { world, _ in world.abort(code: 1) }))

    /// Installs the actions (before any watchdog starts).
    public static func bootstrap(_ actions: Actions) {
        self.actions.withLock { $0 = actions }
    }

    public init(world: Communicator, timeoutSeconds: Double) {
        self.world = world
        self.timeoutSeconds = timeoutSeconds
    }

    public func start() {
        guard timeoutSeconds > 0, thread == nil else { return }
        // The thread keeps the watchdog alive: it must outlive any trainer that fails early.
        let thread = Thread { self.watch() }
        thread.name = "collective-watchdog"
        thread.start()
        self.thread = thread
    }

    /// Runs `body` (one collective) under the watchdog's eye.
    public func guarding<R>(_ label: String, step: Int, _ body: () throws -> R) rethrows -> R {
        let index = labels.withLock { labels -> Int in
            if let existing = labels.firstIndex(of: label) { return existing }
            labels.append(label)
            return labels.count - 1
        }
        labelIndex.store(index, ordering: .relaxed)
        self.step.store(step, ordering: .relaxed)
        startedAt.store(MonotonicClock.seconds().bitPattern, ordering: .releasing)
        defer { startedAt.store(0, ordering: .releasing) }
        return try body()
    }

    private func watch() {
        let interval = min(1.0, max(0.05, timeoutSeconds / 10))
        while true {
            Thread.sleep(forTimeInterval: interval)
            let bits = startedAt.load(ordering: .acquiring)
            guard bits != 0 else { continue }
            let waited = MonotonicClock.seconds() - Double(bitPattern: bits)
            // Ranks fire a little apart (rank 0 first) so that one clear message leads.
            guard waited > timeoutSeconds + 0.25 * Double(world.rank % 8) else { continue }
            let label = labels.withLock { $0[labelIndex.load(ordering: .relaxed)] }
            let message = "rank \(world.rank): \(label) at step \(step.load(ordering: .relaxed)) has not completed after "
                + "\(Int(waited)) s (collective-timeout \(Int(timeoutSeconds)) s): another rank is stalled or dead; aborting the job"
            Self.actions.withLock { $0 }.abortJob(world, message)
        }
    }
}
