#if canImport(Glibc)
import Glibc
#endif

/// Which kernel runs and who chose it, for the run header and the bench JSON, e.g.
/// "OpenBLAS 0.3.21 SkylakeX (chosen by rnn-dist; the library picked Prescott)".
public struct BLASCoreReport: Sendable, Equatable, Encodable {
    public enum ChosenBy: String, Sendable, Encodable {
        case library
        case rnnDist = "rnn-dist"
        case environment = "OPENBLAS_CORETYPE"
        case testStart = "RNN_DIST_BLAS_TEST_START"
    }

    public var library: OpenBLASLibrary
    public var chosenBy: ChosenBy
    /// The core the library picked before rnn-dist replaced it.
    public var libraryPicked: String?
    /// What went wrong with rnn-dist's choice, or that it is off.
    public var note: String?
    public var cpu: CPUFeatures

    /// The one-line description.
    public var description: String {
        let who: String
        switch chosenBy {
        case .library: who = "chosen by the library"
        case .rnnDist: who = "chosen by rnn-dist; the library picked \(libraryPicked ?? "?")"
        case .environment: who = "set by \(BLASCoreVariable.coreType)"
        case .testStart: who = "forced by \(BLASCoreVariable.testStart)"
        }
        return "\(library.name) \(library.versionText) \(library.coreName) (\(who)\(note.map { "; \($0)" } ?? ""))"
    }

    /// The report for this library, environment and CPU (pure: what the start-up's markers say).
    public static func make(library: OpenBLASLibrary, environment: [String: String], cpu: CPUFeatures) -> BLASCoreReport {
        let value = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var report = BLASCoreReport(library: library, chosenBy: .library, libraryPicked: nil, note: nil, cpu: cpu)
        if let picked = value(BLASCoreVariable.replaced) {
            report.chosenBy = .rnnDist
            report.libraryPicked = picked
        } else if let core = value(BLASCoreVariable.fallback) {
            report.note = "rnn-dist's \(core) failed its self-check"
        } else if let detail = value(BLASCoreVariable.execFailed) {
            report.note = "rnn-dist's re-exec failed: \(detail)"
        } else if let coreType = value(BLASCoreVariable.coreType) {
            report.chosenBy = coreType.lowercased() == value(BLASCoreVariable.testStart)?.lowercased() ? .testStart : .environment
            // The user's choice is respected, but a core narrower than this CPU's best slows every
            // product the BLAS computes (the output layer, the weight gradients): say so.
            if report.chosenBy == .environment, let level = KernelLevel.of(core: library.coreName),
               let best = BLASCorePolicy.bestCore(cpu: cpu, version: library.version ?? [0]), level < best.level {
                report.note = "this CPU's best is \(best.rawValue): unset \(BLASCoreVariable.coreType) for faster products"
            }
        } else if value(BLASCoreVariable.auto) == "0" {
            report.note = "rnn-dist's choice is off (\(BLASCoreVariable.auto)=0)"
        }
        return report
    }

    /// This process's report; `environment`: this process's (the executable reads it).
    public static func current(environment: [String: String]) -> BLASCoreReport {
        make(library: .loaded(), environment: environment, cpu: .detect())
    }

    enum CodingKeys: String, CodingKey {
        case blasCore = "blas_core", library, version, kernel, chosenBy = "chosen_by", libraryPicked = "library_picked"
        case note, cpu, cpuFeatures = "cpu_features", config
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(description, forKey: .blasCore)
        try container.encode(library.name, forKey: .library)
        try container.encode(library.versionText, forKey: .version)
        try container.encode(library.coreName, forKey: .kernel)
        try container.encode(library.config, forKey: .config)
        try container.encode(chosenBy, forKey: .chosenBy)
        try container.encodeIfPresent(libraryPicked, forKey: .libraryPicked)
        try container.encodeIfPresent(note, forKey: .note)
        try container.encode(cpu.brand.isEmpty ? cpu.vendor.rawValue : cpu.brand, forKey: .cpu)
        try container.encode(CPUFeatures.Feature.allCases.filter(cpu.has).map(\.rawValue), forKey: .cpuFeatures)
    }
}
