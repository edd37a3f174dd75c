import CRecurrence

/// The microkernel path that runs the per-time-step recurrence products in Float (CRecurrence).
/// Double (gradient checks) always uses the BLAS.
public enum RecurrenceKernelPath: String, CaseIterable, Sendable {
    case avx512, avx2, generic

    var c: rnn_recurrence_path {
        switch self {
        case .avx512: RNN_RECURRENCE_AVX512
        case .avx2: RNN_RECURRENCE_AVX2
        case .generic: RNN_RECURRENCE_GENERIC
        }
    }

    /// Whether this CPU (and OS) can run the path (cpuid); `generic` always can.
    public var isSupported: Bool { rnn_recurrence_supported(c) != 0 }
}

public enum RecurrenceKernelError: Error, Equatable, CustomStringConvertible {
    /// RNN_DIST_KERNEL names no path.
    case unknownPath(String)
    /// RNN_DIST_KERNEL forces a path that this CPU cannot run.
    case unsupported(RecurrenceKernelPath)

    public var description: String {
        switch self {
        case .unknownPath(let value):
            "\(RecurrenceKernel.environmentVariable)='\(value)' is not a kernel path (use "
                + RecurrenceKernelPath.allCases.map(\.rawValue).joined(separator: ", ") + ", or unset it)"
        case .unsupported(let path):
            "\(RecurrenceKernel.environmentVariable)=\(path.rawValue) but this CPU does not support it "
                + "(supported: " + RecurrenceKernelPath.allCases.filter(\.isSupported).map(\.rawValue)
                .joined(separator: ", ") + ")"
        }
    }
}

/// A supported path: the only way to obtain one checks cpuid, so a kernel never runs
/// instructions the CPU lacks.
public struct RecurrenceKernel: Sendable, Equatable, CustomStringConvertible {
    public let path: RecurrenceKernelPath
    /// True when RNN_DIST_KERNEL chose the path, false when it is the best this CPU supports.
    public let isForced: Bool

    public static let environmentVariable = "RNN_DIST_KERNEL"

    /// Forces `path`; throws when this CPU cannot run it.
    public init(path: RecurrenceKernelPath) throws {
        guard path.isSupported else { throw RecurrenceKernelError.unsupported(path) }
        self.path = path
        isForced = true
    }

    private init(best path: RecurrenceKernelPath) {
        self.path = path
        isForced = false
    }

    /// The fastest path this CPU supports.
    public static var best: RecurrenceKernel {
        RecurrenceKernel(best: RecurrenceKernelPath.allCases.first(where: \.isSupported) ?? .generic)
    }

    /// The path a value of RNN_DIST_KERNEL forces (avx512, avx2, generic), or `best` when it is
    /// nil or empty. The executable reads the variable once at start-up and passes the result
    /// down, so that a bad value is reported, not ignored.
    public static func choose(forced value: String?) throws -> RecurrenceKernel {
        guard let value, !value.isEmpty else { return best }
        guard let path = RecurrenceKernelPath(rawValue: value.lowercased()) else {
            throw RecurrenceKernelError.unknownPath(value)
        }
        return try RecurrenceKernel(path: path)
    }

    /// The path's name, for the run header and the bench: "avx512", "avx2" or "generic".
    public var name: String { path.rawValue }

    /// e.g. "avx2 (forced by RNN_DIST_KERNEL)" or "avx512 (best for this CPU)".
    public var description: String {
        "\(name) (" + (isForced ? "forced by \(Self.environmentVariable)" : "best for this CPU") + ")"
    }
}
