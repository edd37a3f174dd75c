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

/// How deep one pass of the packed products goes over K (CRecurrence's rnn_recurrence_depth).
/// It fixes the order of the float additions, so it is part of what a checkpoint records.
public enum RecurrenceDepth: String, CaseIterable, Sendable {
    /// The path's kc: a panel block stays in L1 while the row tiles stream it.
    case l1
    /// One pass over K (up to 2048): C is loaded and stored once, the blocks come from L2.
    case onePass = "onepass"

    var c: rnn_recurrence_depth {
        switch self {
        case .l1: RNN_DEPTH_L1
        case .onePass: RNN_DEPTH_SINGLE_PASS
        }
    }
}

/// What computes the per-step recurrence products.
public enum RecurrenceProducts: Sendable, Equatable {
    /// CRecurrence's microkernels on W_hh packed into panels once per call, the cell's
    /// element-wise step fused into the last pass.
    case packed(RecurrenceDepth)
    /// The BLAS's sgemm (which packs W_hh on every call), then the element-wise step on the
    /// kernel's vector path: the floor every other choice is measured against.
    case blas
}

public enum RecurrenceKernelError: Error, Equatable, CustomStringConvertible {
    /// RNN_DIST_KERNEL names no path.
    case unknownPath(String)
    /// RNN_DIST_KERNEL forces a path that this CPU cannot run.
    case unsupported(RecurrenceKernelPath)

    public var description: String {
        switch self {
        case .unknownPath(let value):
            "\(RecurrenceKernel.environmentVariable)='\(value)' is not a kernel (use "
                + RecurrenceKernel.allNames.joined(separator: ", ") + ", or unset it)"
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
    /// The vector path of the packed products and of every cell's element-wise step.
    public let path: RecurrenceKernelPath
    public let products: RecurrenceProducts
    /// Who chose this kernel.
    public let origin: Origin

    public enum Origin: Sendable, Equatable {
        /// RNN_DIST_KERNEL (or a test) named it.
        case forced
        /// The widest instruction set this CPU supports (no measurement was made).
        case instructionSet
        /// The fastest of the candidates timed at the model's shapes (RecurrenceKernelTuner).
        case measured
        /// The checkpoint a run resumed from recorded it, so that the resumed run computes the same bits.
        case checkpoint
    }

    /// True when RNN_DIST_KERNEL chose the kernel.
    public var isForced: Bool { origin == .forced }

    public static let environmentVariable = "RNN_DIST_KERNEL"

    /// Forces `path` (packed products, or `products`); throws when this CPU cannot run it.
    public init(path: RecurrenceKernelPath, products: RecurrenceProducts = .packed(.l1)) throws {
        guard path.isSupported else { throw RecurrenceKernelError.unsupported(path) }
        self.init(path: path, products: products, origin: .forced)
    }

    private init(path: RecurrenceKernelPath, products: RecurrenceProducts, origin: Origin) {
        self.path = path
        self.products = products
        self.origin = origin
    }

    /// The widest vector path this CPU supports.
    private static var bestPath: RecurrenceKernelPath { RecurrenceKernelPath.allCases.first(where: \.isSupported) ?? .generic }

    /// The fastest path this CPU supports, by its instruction set.
    public static var best: RecurrenceKernel { RecurrenceKernel(path: bestPath, products: .packed(.l1), origin: .instructionSet) }

    /// The BLAS's sgemm for the products, the widest vector path for the element-wise steps.
    public static var blas: RecurrenceKernel { RecurrenceKernel(path: bestPath, products: .blas, origin: .forced) }

    /// Every kernel this CPU can run: each supported path's packed products at each depth, then the BLAS.
    public static var allSupported: [RecurrenceKernel] {
        RecurrenceKernelPath.allCases.filter(\.isSupported).flatMap { path in
            RecurrenceDepth.allCases.map { RecurrenceKernel(path: path, products: .packed($0), origin: .forced) }
        } + [blas]
    }

    /// Every kernel's name on any CPU, in a fixed order: "avx512", "avx512-onepass", …, "blas".
    public static let allNames: [String] = RecurrenceKernelPath.allCases.flatMap { path in
        RecurrenceDepth.allCases.map { name(path: path, products: .packed($0)) }
    } + [name(path: .generic, products: .blas)]

    /// The same kernel with another origin.
    public func chosen(by origin: Origin) -> RecurrenceKernel { RecurrenceKernel(path: path, products: products, origin: origin) }

    /// The kernel a value of RNN_DIST_KERNEL forces (see `allNames`), or `best` when it is nil
    /// or empty. The executable reads the variable once at start-up and passes the result
    /// down, so that a bad value is reported, not ignored.
    public static func choose(forced value: String?) throws -> RecurrenceKernel {
        guard let value, !value.isEmpty else { return best }
        let name = value.lowercased()
        if let kernel = RecurrenceKernel(name: name, origin: .forced) { return kernel }
        guard allNames.contains(name) else { throw RecurrenceKernelError.unknownPath(value) }
        let pathName = name.split(separator: "-").first.map(String.init) ?? name
        throw RecurrenceKernelError.unsupported(RecurrenceKernelPath(rawValue: pathName) ?? .generic)
    }

    /// The name RNN_DIST_KERNEL and checkpoints use: "avx512", "avx2-onepass", "blas", ….
    public var name: String { Self.name(path: path, products: products) }

    private static func name(path: RecurrenceKernelPath, products: RecurrenceProducts) -> String {
        switch products {
        case .packed(.l1): path.rawValue
        case .packed(let depth): "\(path.rawValue)-\(depth.rawValue)"
        case .blas: "blas"
        }
    }

    /// The kernel a name stands for on this CPU, chosen by `origin`; nil for an unknown name or
    /// a path this CPU cannot run.
    public init?(name: String, origin: Origin) {
        if name == "blas" {
            self = RecurrenceKernel.blas.chosen(by: origin)
            return
        }
        let parts = name.split(separator: "-", maxSplits: 1).map(String.init)
        guard let path = RecurrenceKernelPath(rawValue: parts[0]), path.isSupported,
              let depth = parts.count == 1 ? .l1 : RecurrenceDepth(rawValue: parts[1]), name == Self.name(path: path, products: .packed(depth))
        else { return nil }
        self.init(path: path, products: .packed(depth), origin: origin)
    }

    /// e.g. "avx2 (forced by RNN_DIST_KERNEL)" or "avx512 (best for this CPU)".
    public var description: String {
        let why = switch origin {
        case .forced: "forced by \(Self.environmentVariable)"
        case .instructionSet: "best for this CPU"
        case .measured: "fastest measured at the model's shapes"
        case .checkpoint: "recorded in the checkpoint"
        }
        return "\(detail) (\(why))"
    }

    /// Name and vector path, e.g. "blas (cells avx512)" or "avx2".
    public var detail: String {
        switch products {
        case .packed: name
        case .blas: "blas (cells \(path.rawValue))"
        }
    }
}
