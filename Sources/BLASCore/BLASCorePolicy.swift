/// The environment variables through which rnn-dist chooses OpenBLAS's kernel. OpenBLAS reads
/// OPENBLAS_CORETYPE only while it is loaded, so a different kernel needs a re-exec of the
/// same process; the markers below carry what happened across that exec and stop any loop.
public enum BLASCoreVariable {
    /// OpenBLAS's own override. Set by the user, it is always respected.
    public static let coreType = "OPENBLAS_CORETYPE"
    /// Marker: rnn-dist set OPENBLAS_CORETYPE; the value is the core the library had picked.
    public static let replaced = "RNN_DIST_BLAS_REPLACED"
    /// Marker: rnn-dist's core failed the self-check (value: that core); the library's own choice runs.
    public static let fallback = "RNN_DIST_BLAS_FALLBACK"
    /// Marker: the re-exec failed (value: "core: reason"); the library's own choice runs.
    public static let execFailed = "RNN_DIST_BLAS_EXEC_FAILED"
    /// "0" turns the choice off: the library's kernel runs as it picked it.
    public static let auto = "RNN_DIST_BLAS_AUTO"
    /// Test only: start the library on this core (e.g. Prescott) as if it had picked it, so
    /// that the replacement can be exercised on any CPU.
    public static let testStart = "RNN_DIST_BLAS_TEST_START"
    /// Test only: "wrong" makes the self-check report a wrong product, "crash" raises SIGILL
    /// inside it, to exercise the fall-back to the library's choice.
    public static let testSelfCheck = "RNN_DIST_BLAS_TEST_SELF_CHECK"
}

/// What rnn-dist does with the kernel the library picked.
public enum BLASCoreDecision: Equatable, Sendable {
    /// Run the loaded kernel as it is.
    case keep(KeepReason)
    /// Re-exec with OPENBLAS_CORETYPE = `core`: the library picked `libraryPicked`, older than the CPU.
    case replace(core: ReplacementCore, libraryPicked: String)
    /// Test only (RNN_DIST_BLAS_TEST_START): re-exec with the library started on `core`.
    case startOn(core: String)

    public enum KeepReason: Equatable, Sendable {
        case userSet(core: String)
        case chosenByRNNDist(libraryPicked: String)
        case failedSelfCheck(core: String)
        case execFailed(detail: String)
        case disabled
        case notDynamicArch
        case unknownCore(String)
        case noVectorExtensions
        case fits(best: ReplacementCore)
    }

    /// Why, in a few words (for the run header and the bench JSON).
    public var reason: String {
        switch self {
        case let .replace(core, picked):
            return "the library picked \(picked), older than this CPU supports; \(core.rawValue) is its best core here"
        case let .startOn(core): return "\(BLASCoreVariable.testStart) asks to start the library on \(core)"
        case let .keep(reason):
            switch reason {
            case let .userSet(core): return "\(BLASCoreVariable.coreType)=\(core) is set"
            case let .chosenByRNNDist(picked): return "rnn-dist already replaced \(picked)"
            case let .failedSelfCheck(core): return "\(core) failed rnn-dist's self-check"
            case let .execFailed(detail): return "the re-exec failed (\(detail))"
            case .disabled: return "\(BLASCoreVariable.auto)=0"
            case .notDynamicArch: return "the library is built for one CPU (no DYNAMIC_ARCH)"
            case let .unknownCore(name): return "\(name) is a core rnn-dist does not rank"
            case .noVectorExtensions: return "the CPU has no AVX: no better core exists"
            case let .fits(best): return "the library's core is as good as \(best.rawValue) here"
            }
        }
    }
}

/// The decision, as a pure function of the CPU, the loaded library and the environment.
public enum BLASCorePolicy {
    public static func decide(cpu: CPUFeatures, library: OpenBLASLibrary, environment: [String: String]) -> BLASCoreDecision {
        let value = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        // Markers first: each exec adds one, so the chain ends.
        if let core = value(BLASCoreVariable.fallback) { return .keep(.failedSelfCheck(core: core)) }
        if let detail = value(BLASCoreVariable.execFailed) { return .keep(.execFailed(detail: detail)) }
        if let picked = value(BLASCoreVariable.replaced) { return .keep(.chosenByRNNDist(libraryPicked: picked)) }
        if value(BLASCoreVariable.auto) == "0" { return .keep(.disabled) }
        let testStart = value(BLASCoreVariable.testStart)
        if let coreType = value(BLASCoreVariable.coreType) {
            // OPENBLAS_CORETYPE equal to the test start core is rnn-dist's own, not the user's.
            if coreType.lowercased() != testStart?.lowercased() { return .keep(.userSet(core: coreType)) }
        } else if let testStart {
            return .startOn(core: testStart)
        }
        guard library.isDynamicArch else { return .keep(.notDynamicArch) }
        guard let pickedLevel = KernelLevel.of(core: library.coreName) else { return .keep(.unknownCore(library.coreName)) }
        guard let best = bestCore(cpu: cpu, version: library.version ?? [0]) else { return .keep(.noVectorExtensions) }
        if pickedLevel >= best.level { return .keep(.fits(best: best)) }
        return .replace(core: best, libraryPicked: library.coreName)
    }

    /// The best core an OpenBLAS of `version` has for `cpu`, no wider than `widest`; nil
    /// without usable AVX.
    public static func bestCore(cpu: CPUFeatures, version: [Int], atMost widest: KernelLevel = .avx512) -> ReplacementCore? {
        var candidates: [ReplacementCore] = []
        if cpu.usableAVX512BF16 { candidates.append(.cooperlake) }
        if cpu.usableAVX512 { candidates.append(.skylakeX) }
        if cpu.usableAVX2FMA { candidates.append(cpu.vendor == .amd || cpu.vendor == .hygon ? .zen : .haswell) }
        if cpu.usableAVX { candidates.append(.sandybridge) }
        return candidates.first { $0.level <= widest && $0.isAvailable(inVersion: version) }
    }
}
