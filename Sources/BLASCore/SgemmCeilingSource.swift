/// Where a benchmark measures its sgemm ceiling. A percentage of the ceiling is honest only when
/// the ceiling runs the widest instructions that the code under test runs: with an AVX-512
/// recurrence kernel beside an OpenBLAS held to Haswell (OPENBLAS_CORETYPE), an AVX2 sgemm is
/// no ceiling and the percentage passes 100. OpenBLAS reads its core once, when it is loaded,
/// so a wider core needs another process.
public enum SgemmCeilingSource: Equatable, Sendable {
    /// This process's OpenBLAS, whose core is at least as wide as the run's code.
    case thisProcess
    /// A process of its own with OPENBLAS_CORETYPE = `core`.
    case separateProcess(core: ReplacementCore)

    /// `loadedCore`: the core this process's OpenBLAS runs; `codeLevel`: the instruction set of
    /// the recurrence kernel (nil when the BLAS computes the products, so its core is the code's).
    public static func choose(loadedCore: String, codeLevel: KernelLevel?, cpu: CPUFeatures, version: [Int]) -> SgemmCeilingSource {
        guard let codeLevel, let loaded = KernelLevel.of(core: loadedCore), loaded < codeLevel,
              let core = BLASCorePolicy.bestCore(cpu: cpu, version: version, atMost: codeLevel), core.level > loaded
        else { return .thisProcess }
        return .separateProcess(core: core)
    }
}
