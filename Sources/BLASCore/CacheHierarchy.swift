import CBLASCore
import Foundation

/// The data caches one core works with, in bytes: what decides whether a layer's packed W_hh
/// (4·G·H² bytes) stays in L2 from one time step to the next or streams from L3 every step.
/// The kernels do not assume a size: the tuner measures; this says why its choice differs
/// between CPUs (run header, bench JSON).
public struct CacheHierarchy: Sendable, Equatable, Codable {
    public enum Source: String, Sendable, Codable {
        /// cpuid's deterministic cache parameters (leaf 4 on Intel, 0x8000001D on AMD).
        case cpuid
        /// Linux's /sys/devices/system/cpu/cpu0/cache (where cpuid has no such leaf).
        case sysfs
        case unknown
    }

    /// Level-1 data cache of one core.
    public var l1d: Int?
    /// Level-2 cache of one core (unified).
    public var l2: Int?
    /// The level-3 cache this core shares with others, whole.
    public var l3: Int?
    public var source: Source

    public init(l1d: Int?, l2: Int?, l3: Int?, source: Source) {
        (self.l1d, self.l2, self.l3, self.source) = (l1d, l2, l3, source)
    }

    /// This CPU's caches: cpuid, else sysfs, else unknown.
    public static func detect() -> CacheHierarchy {
        var caches = [rnn_dist_cache](repeating: rnn_dist_cache(), count: 16)
        let count = Int(rnn_dist_read_caches(&caches, Int32(caches.count)))
        let found = caches.prefix(count).map { (level: Int($0.level), type: Int($0.type), bytes: Int($0.bytes)) }
        if let hierarchy = from(found, source: .cpuid) { return hierarchy }
        return fromSysfs() ?? CacheHierarchy(l1d: nil, l2: nil, l3: nil, source: .unknown)
    }

    /// The hierarchy of (level, type 1 data / 2 instruction / 3 unified, bytes) entries; nil without an L1d or L2.
    static func from(_ caches: [(level: Int, type: Int, bytes: Int)], source: Source) -> CacheHierarchy? {
        func size(_ level: Int) -> Int? { caches.first { $0.level == level && $0.type != 2 && $0.bytes > 0 }?.bytes }
        guard let l1d = size(1), let l2 = size(2) else { return nil }
        return CacheHierarchy(l1d: l1d, l2: l2, l3: size(3), source: source)
    }

    /// The caches of cpu0 as Linux lists them under `directory`.
    public static func fromSysfs(directory: String = "/sys/devices/system/cpu/cpu0/cache") -> CacheHierarchy? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let types = ["Data": 1, "Instruction": 2, "Unified": 3]
        let caches: [(level: Int, type: Int, bytes: Int)] = entries.filter { $0.hasPrefix("index") }.compactMap { entry in
            let base = "\(directory)/\(entry)"
            guard let level = read("\(base)/level").flatMap(Int.init), let type = read("\(base)/type").flatMap({ types[$0] }),
                  let bytes = read("\(base)/size").flatMap(parseSize) else { return nil }
            return (level, type, bytes)
        }
        return from(caches, source: .sysfs)
    }

    /// "32K", "1024K", "32M" (sysfs's spelling) in bytes.
    static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let unit = text.last.flatMap({ units[$0] }) { return Int(text.dropLast()).map { $0 * unit } }
        return Int(text)
    }

    /// "L1d 32 KiB, L2 512 KiB, L3 32 MiB (cpuid)".
    public var summary: String {
        func format(_ bytes: Int?) -> String {
            guard let bytes else { return "?" }
            return bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        }
        return "L1d \(format(l1d)), L2 \(format(l2)), L3 \(format(l3)) (\(source.rawValue))"
    }
}
