import BLAS
import BLASCore
import RNN

/// The single-thread sgemm rate a benchmark's percentage is of, and where it was measured.
public struct SgemmCeiling: Sendable {
    public var rate: BLAS.SgemmRate
    /// The OpenBLAS core that computed it.
    public var core: String
    /// Whether it ran in a process of its own (SgemmCeilingSource.separateProcess).
    public var separateProcess: Bool
    /// Why it ran where it did, or why it could not run where it should have (nil: this
    /// process, as planned).
    public var note: String?

    public init(rate: BLAS.SgemmRate, core: String, separateProcess: Bool, note: String?) {
        (self.rate, self.core, self.separateProcess, self.note) = (rate, core, separateProcess, note)
    }

    /// This process's rate: 1024³ products for at least 5 runs and 0.5 s.
    public static func measureRate() -> BLAS.SgemmRate {
        BLAS.measureSgemm(size: 1024, minimumRuns: 5, minimumSeconds: 0.5)
    }

    /// Measured here, on this process's OpenBLAS.
    public static func measureHere(core: String, note: String? = nil) -> SgemmCeiling {
        SgemmCeiling(rate: measureRate(), core: core, separateProcess: false, note: note)
    }

    /// The header's words for where it ran, e.g. "Cooperlake, in a separate process: this
    /// process's Haswell is narrower than the recurrence kernel".
    public var summary: String {
        "\(core)\(separateProcess ? ", in a separate process" : "")\(note.map { ": \($0)" } ?? "")"
    }
}

extension SgemmCeilingSource {
    /// Where the ceiling runs for a run of `kernel` beside the OpenBLAS that `blas` reports.
    public static func choose(for kernel: RecurrenceKernel, blas: BLASCoreReport) -> SgemmCeilingSource {
        choose(loadedCore: blas.library.coreName, codeLevel: kernel.instructionLevel, cpu: blas.cpu,
               version: blas.library.version ?? [0])
    }
}

extension RecurrenceKernel {
    /// The instruction set of the products this kernel computes itself; nil when the BLAS
    /// computes them (its core is then the code's).
    public var instructionLevel: KernelLevel? {
        switch products {
        case .blas: return nil
        case .packed:
            switch path {
            case .avx512: return .avx512
            case .avx2: return .avx2
            case .generic: return .generic
            }
        }
    }
}
