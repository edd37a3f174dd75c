import CMPI
import Glibc

/// How a rank waits for a message that has not arrived: it polls (MPI_Test) for a short
/// stretch, then sleeps between polls in doubling steps. OpenMPI's MPI_Wait polls for as long as
/// it waits. On cores shared with another process (a busy node, more ranks than cores), a rank
/// that polls while its peer still computes keeps a core that the peer could use, and every
/// step then lasts as long as the peer's computing on a shared core. A sleeping rank gives its
/// core back, and the scheduler moves the peer (or the other process) onto it.
///
/// Why these lengths:
/// - A message between ranks of one host lands within a few µs of its send, one over TCP
///   within 40–110 µs (`rnn-dist bench --hops`, 12 ranks on 2 cores), and a ring chunk of a
///   bucket (at most 2 MiB) is copied between ranks of one host in about 0.2 ms. A rank that
///   has polled for `spinSeconds` (1 ms) without a result is waiting for a peer that is
///   still computing its backward pass, not for the network.
/// - Spinning that long costs at most 1 ms of a core per wait, a few % of a step when the
///   ranks are out of step by more than that, nothing when they are not.
/// - A wait that ends while the rank sleeps ends at most `longestSleepNanoseconds` plus the
///   kernel's timer slack (50 µs) late: under 2% of a step of the smallest benchmarked model
///   (tanh H=256, about 12 ms on 2 ranks), and about once per step: after the late wake the
///   peers are in their own exchanges, and the next messages land within the poll.
/// - A transfer that outlasts the spin (a large chunk over a slow link) still moves while the
///   rank sleeps: the kernel's socket buffers fill and drain without MPI, and each wake reads
///   what arrived.
/// - Every poll of the spin yields the core (sched_yield). Alone on its core, a rank gets it
///   straight back. Where a runnable process waits for that core, often the peer whose send
///   the exchange needs, that process runs first. With one busy process beside 2 ranks on 2
///   cores (Zen 5, tanh H=256), this made the allreduce 2.8–3.5 ms instead of 4.5–6.0 ms, and
///   the step 29% faster (medians of 7 interleaved rounds). Quiet rounds did not change
///   beyond their ±5% spread.
struct IdleBackoff {
    static let spinSeconds = 1e-3
    static let firstSleepNanoseconds: UInt64 = 50_000
    static let longestSleepNanoseconds: UInt64 = 200_000

    /// When the idle stretch began (MPI_Wtime; nil before the first idle poll).
    private var idleSince: Double?
    private var nextSleep = IdleBackoff.firstSleepNanoseconds

    /// The last poll found nothing to do: yields the core within the idle stretch's first
    /// `spinSeconds`, after that sleeps (50 µs, 100 µs, then 200 µs per call).
    mutating func idle() {
        let now = Communicator.wallTime()
        guard let idleSince else { idleSince = now; return }
        guard now - idleSince >= Self.spinSeconds else { _ = sched_yield(); return }
        var pause = timespec(tv_sec: 0, tv_nsec: Int(nextSleep))
        _ = nanosleep(&pause, nil)
        nextSleep = min(nextSleep * 2, Self.longestSleepNanoseconds)
    }

    /// Polls `request` until it completes, idling between polls.
    static func complete(_ request: UnsafeMutablePointer<MPI_Request?>,
                         operation: @autoclosure () -> String) throws(MPIError) {
        var backoff = IdleBackoff()
        while true {
            var done: Int32 = 0
            try MPIError.check(MPI_Test(request, &done, cmpi_status_ignore()), operation())
            if done != 0 { return }
            backoff.idle()
        }
    }
}
