import Buffers

/// Reads buffers into the cache a slice at a time, interleaved by index as an element-wise
/// loop over all of them (the optimizer) will read them: one float per 64-byte line. Each
/// `warmNext()` touches one slice of every buffer and says whether any remained; `restart()`
/// begins again. Allocates nothing after init.
final class CacheWarmer {
    private let buffers: [Buffer<Float>]
    private let count: Int
    private var position = 0
    /// What the reads add up to, kept so that the compiler cannot drop them.
    private(set) var checksum: Float = 0

    /// Elements per slice and buffer: 16 KB, a few microseconds of memory traffic between
    /// the ring's progress calls.
    private static var slice: Int { 4_096 }
    private static var floatsPerLine: Int { 16 }

    init(_ buffers: [Buffer<Float>]) {
        self.buffers = buffers
        count = buffers.map(\.count).min() ?? 0
    }

    func restart() { position = 0 }

    func warmNext() -> Bool {
        guard position < count else { return false }
        let end = min(count, position + Self.slice)
        var sum: Float = 0
        for buffer in buffers {
            let base = buffer.baseAddress
            var i = position
            while i < end {
                sum += base[i]
                i += Self.floatsPerLine
            }
        }
        checksum += sum
        position = end
        return true
    }
}
