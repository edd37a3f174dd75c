import CBLAS

/// The OpenBLAS this process loaded: version, build flags and the kernel ("core") its
/// DYNAMIC_ARCH dispatch chose when it was loaded.
public struct OpenBLASLibrary: Sendable, Equatable {
    /// openblas_get_config(), e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64".
    public var config: String
    /// openblas_get_corename(), e.g. "Prescott".
    public var coreName: String

    public init(config: String, coreName: String) {
        self.config = config
        self.coreName = coreName
    }

    /// The library loaded in this process.
    public static func loaded() -> OpenBLASLibrary {
        OpenBLASLibrary(config: openblas_get_config().map { String(cString: $0) } ?? "",
                        coreName: openblas_get_corename().map { String(cString: $0) } ?? "")
    }

    /// "OpenBLAS" when the config says so (the first word), else the config's first word.
    public var name: String { String(config.split(separator: " ").first ?? "unknown") }

    /// "0.3.21": the second word of the config.
    public var versionText: String {
        let words = config.split(separator: " ")
        return words.count > 1 ? String(words[1]) : "?"
    }

    /// The version as comparable numbers ([0, 3, 21]); nil when it does not parse.
    public var version: [Int]? { Self.parseVersion(versionText) }

    /// Only a DYNAMIC_ARCH build carries several kernels and reads OPENBLAS_CORETYPE.
    public var isDynamicArch: Bool { config.split(separator: " ").contains("DYNAMIC_ARCH") }

    /// "0.3.21" or "0.3.21.dev" → [0, 3, 21]; numbers up to the first non-numeric part.
    public static func parseVersion(_ text: String) -> [Int]? {
        var numbers: [Int] = []
        for part in text.split(separator: ".") {
            guard let number = Int(part) else { break }
            numbers.append(number)
        }
        return numbers.isEmpty ? nil : numbers
    }
}

/// The instruction-set level an OpenBLAS x86-64 kernel is written for. A library kernel
/// below what the CPU supports leaves speed unused (Prescott on AVX-512: 5× slower sgemm).
public enum KernelLevel: Int, Sendable, Comparable {
    /// SSE-era kernels: Katmai … Nehalem, Atom, Barcelona, and OpenBLAS's "Unknown".
    case generic = 0
    case avx = 1
    case avx2 = 2
    case avx512 = 3

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rawValue < b.rawValue }

    /// The level of an OpenBLAS x86-64 core name (case-insensitive, as OpenBLAS matches
    /// OPENBLAS_CORETYPE); nil for a name this table does not know (a newer library's core,
    /// another architecture), which rnn-dist then leaves alone.
    public static func of(core name: String) -> KernelLevel? {
        levels[name.lowercased()]
    }

    private static let levels: [String: KernelLevel] = {
        var table: [String: KernelLevel] = [:]
        for name in ["unknown", "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
                     "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "nano", "bobcat"] {
            table[name] = .generic
        }
        // AMD's Bulldozer family runs AVX (with FMA4); its OpenBLAS kernels are not Haswell-class.
        for name in ["sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"] { table[name] = .avx }
        for name in ["haswell", "zen"] { table[name] = .avx2 }
        for name in ["skylakex", "cooperlake", "sapphirerapids"] { table[name] = .avx512 }
        return table
    }()
}

/// The cores rnn-dist may choose, spelled as OPENBLAS_CORETYPE accepts them, with the first
/// OpenBLAS release whose DYNAMIC_ARCH build has them.
public enum ReplacementCore: String, Sendable, CaseIterable {
    case cooperlake = "Cooperlake"
    case skylakeX = "SkylakeX"
    case haswell = "Haswell"
    case zen = "Zen"
    case sandybridge = "Sandybridge"

    public var level: KernelLevel { KernelLevel.of(core: rawValue)! }

    /// The first OpenBLAS version that ships this core in DYNAMIC_ARCH builds.
    public var firstVersion: [Int] {
        switch self {
        case .cooperlake: return [0, 3, 11]
        case .skylakeX: return [0, 3, 0]
        case .zen: return [0, 2, 20]
        case .haswell: return [0, 2, 9]
        case .sandybridge: return [0, 2, 0]
        }
    }

    /// Whether OpenBLAS `version` has this core ("0.3" counts as 0.3.0).
    public func isAvailable(inVersion version: [Int]) -> Bool {
        let padded = version + Array(repeating: 0, count: max(0, firstVersion.count - version.count))
        return !padded.lexicographicallyPrecedes(firstVersion)
    }
}
