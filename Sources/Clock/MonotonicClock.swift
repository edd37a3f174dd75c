#if canImport(Glibc)
import Glibc
#endif

/// The one clock of the project: seconds on CLOCK_MONOTONIC, which never jumps with the wall
/// clock (NTP, suspend), so timings and timeouts measure elapsed time only.
public enum MonotonicClock {
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
