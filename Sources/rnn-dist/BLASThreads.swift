import Foundation

/// One BLAS thread per rank when the ranks fill the cores; an explicit OPENBLAS_NUM_THREADS wins.
enum BLASThreads {
    static func perRank(ranks: Int) -> Int {
        if let text = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let value = Int(text), value > 0 {
            return value
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, ranks))
    }
}
