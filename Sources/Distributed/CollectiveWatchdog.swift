import Clock
import Foundation
import MPI
import Synchronization

/// Ends the job when a collective has not completed within the timeout: a stalled rank
/// (stopped, swapping, stuck in I/O) or an unreachable host would otherwise leave every other
/// rank blocked in MPI forever. A background thread looks at the start time of the collective
/// in progress. With the ranks' hosts known (`setHosts`) and a collective that says which peer
/// it is blocked on (the ring allreduce), the message names that rank and its host.
public final class CollectiveWatchdog: @unchecked Sendable {
    public let timeoutSeconds: Double
    private let world: Communicator
    /// Start of the collective in progress, as bits of a monotonic Double; 0 when none is.
    private let startedAt = Atomic<UInt64>(0)
    /// Step and label of the collective in progress, for the message.
    private let step = Atomic<Int>(0)
    private let labelIndex = Atomic<Int>(0)
    private let labels: Mutex<[String]> = Mutex([])
    /// The peer tracker of the collective in progress, when it has one.
    private let peers: Mutex<PeerWait?> = Mutex(nil)
    private let hosts: Mutex<[RankHost]> = Mutex([])
    private var thread: Thread?

    /// What the watchdog does with what it finds. The executable installs them once at start
    /// (as swift-log's LoggingSystem.bootstrap does); this module only composes the messages.
    public struct Actions: Sendable {
        /// Says something while the job goes on (e.g. print it on standard error).
        public var notice: @Sendable (_ message: String) -> Void
        /// Ends the whole job after saying `message` (e.g. print it, then MPI_Abort).
        public var abortJob: @Sendable (_ world: Communicator, _ message: String) -> Never

        public init(notice: @escaping @Sendable (String) -> Void,
                    abortJob: @escaping @Sendable (Communicator, String) -> Never) {
            self.notice = notice
            self.abortJob = abortJob
        }
    }

    private static let actions = Mutex(Actions(notice: { _ in }, abortJob: { world, _ in world.abort(code: 1) }))

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

    /// Every rank's host, in rank order (from `Communicator.hosts()`), for the messages.
    public func setHosts(_ all: [RankHost]) { hosts.withLock { $0 = all } }

    /// Runs `body` (one collective) under the watchdog's eye; `peers` says which rank it waits for.
    public func guarding<R>(_ label: String, step: Int, peers: PeerWait? = nil, _ body: () throws -> R) rethrows -> R {
        let index = labels.withLock { labels -> Int in
            if let existing = labels.firstIndex(of: label) { return existing }
            labels.append(label)
            return labels.count - 1
        }
        labelIndex.store(index, ordering: .relaxed)
        self.step.store(step, ordering: .relaxed)
        self.peers.withLock { $0 = peers }
        startedAt.store(MonotonicClock.seconds().bitPattern, ordering: .releasing)
        defer { startedAt.store(0, ordering: .releasing) }
        return try body()
    }

    private func watch() {
        let interval = min(1.0, max(0.05, timeoutSeconds / 10))
        var reportedStop = false
        while true {
            Thread.sleep(forTimeInterval: interval)
            let bits = startedAt.load(ordering: .acquiring)
            guard bits != 0 else { continue }
            let waited = MonotonicClock.seconds() - Double(bitPattern: bits)
            // The launcher is ending the job (it lost a host, or was cancelled) while this rank
            // waits in a collective: say what it waited for before it is killed.
            if StopSignal.pending != 0 && !reportedStop && waited > interval {
                reportedStop = true
                Self.actions.withLock { $0 }.notice(
                    "\(me): \(StopSignal.name(StopSignal.pending)) while \(waiting(for: waited)): \(culprit()); the job is being ended")
            }
            // Ranks fire a little apart (rank 0 first) so that one clear message leads.
            guard waited > timeoutSeconds + 0.25 * Double(world.rank % 8) else { continue }
            Self.actions.withLock { $0 }.abortJob(world, "\(me): \(waiting(for: waited)) (collective-timeout \(Int(timeoutSeconds)) s): "
                + "\(culprit()); aborting the job")
        }
    }

    /// "gradient allreduce at step 40 has not completed after 5 s"
    private func waiting(for waited: Double) -> String {
        let label = labels.withLock { $0[labelIndex.load(ordering: .relaxed)] }
        return "\(label) at step \(step.load(ordering: .relaxed)) has not completed after \(Int(waited)) s"
    }

    /// "rank 2 on host h3 (198.18.0.3) did not answer", or the general cause when the collective
    /// does not say which peer it waits for.
    private func culprit() -> String {
        guard let rank = peers.withLock({ $0?.waitingOn }) else { return "another rank is stalled or dead" }
        return "rank \(rank)\(host(of: rank).map { " on host \($0)" } ?? "") did not answer"
    }

    private func host(of rank: Int) -> RankHost? {
        hosts.withLock { rank < $0.count ? $0[rank] : nil }
    }

    /// "rank 1 on h2": who is speaking.
    private var me: String {
        "rank \(world.rank)\(host(of: world.rank).map { " on \($0.name)" } ?? "")"
    }
}
