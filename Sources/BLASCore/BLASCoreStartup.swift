import BLAS
import CBLASCore
#if canImport(Glibc)
import Glibc
#endif

/// Environment variables to set and remove before a re-exec.
public struct EnvironmentChange: Sendable, Equatable {
    public var set: [String: String]
    public var unset: [String]

    public init(set: [String: String] = [:], unset: [String] = []) {
        self.set = set
        self.unset = unset
    }

    /// `environment` after this change.
    public func applied(to environment: [String: String]) -> [String: String] {
        var result = environment
        for name in unset { result[name] = nil }
        for (name, value) in set { result[name] = value }
        return result
    }
}

/// Start-up of a process that uses OpenBLAS: the decision turned into re-exec steps, and the
/// self-check of a core that rnn-dist chose. The executable performs the exec (rnn-dist:
/// BLASKernelChoice.swift); only the self-check's crash guard execs from here, because it
/// must happen inside a signal handler.
public enum BLASCoreStartup {
    public enum Step: Equatable, Sendable {
        case proceed
        /// Re-exec this program (same pid, same arguments) with the environment changed.
        case reexec(EnvironmentChange)
    }

    /// The program to re-exec: this process's own binary, whatever argv[0] says.
    public static let executablePath = "/proc/self/exe"

    /// First thing in main: the step for this process's CPU, library and environment.
    public static func firstStep(environment: [String: String]) -> Step {
        step(for: BLASCorePolicy.decide(cpu: .detect(), library: .loaded(), environment: environment))
    }

    /// The environment change each decision needs (pure).
    public static func step(for decision: BLASCoreDecision) -> Step {
        switch decision {
        case .keep: return .proceed
        case let .startOn(core): return .reexec(EnvironmentChange(set: [BLASCoreVariable.coreType: core]))
        case let .replace(core, picked):
            return .reexec(EnvironmentChange(set: [BLASCoreVariable.coreType: core.rawValue, BLASCoreVariable.replaced: picked]))
        }
    }

    /// The way back to the library's own choice after `core` failed.
    public static func fallback(from core: String) -> EnvironmentChange {
        EnvironmentChange(set: [BLASCoreVariable.fallback: core], unset: [BLASCoreVariable.coreType, BLASCoreVariable.replaced])
    }

    /// When rnn-dist chose the running core: check that the library runs it and that it
    /// computes right. A wrong product, or the wrong core, gives the fall-back re-exec; a
    /// crash inside the check re-execs into the fall-back directly from the signal handler.
    public static func selfCheckStep(environment: [String: String]) -> Step {
        guard environment[BLASCoreVariable.replaced] != nil, let requested = environment[BLASCoreVariable.coreType] else {
            return .proceed
        }
        let fallback = fallback(from: requested)
        if OpenBLASLibrary.loaded().coreName.lowercased() != requested.lowercased() { return .reexec(fallback) }
        let passed = withCrashGuard(reexecWith: fallback.applied(to: environment)) {
            switch environment[BLASCoreVariable.testSelfCheck] {
            case "crash": raise(SIGILL); return false
            case "wrong": return false
            default: return selfCheckPasses()
            }
        }
        return passed ? .proceed : .reexec(fallback)
    }

    /// Two sgemm products (plain and transposed operands) at sizes that are no multiple of
    /// any kernel's block, against a plain loop. The entries are small integers, so every
    /// sum is an exactly representable integer: a correct kernel matches bit for bit.
    public static func selfCheckPasses() -> Bool {
        let (m, n, k) = (37, 45, 131)
        let a = (0..<m * k).map { Float(($0 * 7 + 3) % 9 - 4) }   // A[m×k], entries in -4...4
        let b = (0..<k * n).map { Float(($0 * 5 + 1) % 7 - 3) }   // B[k×n], entries in -3...3
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[p * n + j]) }
                expected[i * n + j] = Float(sum)
            }
        }
        var plain = [Float](repeating: 0, count: m * n)
        BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: &plain)
        // Aᵀ stored as [k×m] and Bᵀ as [n×k]: the transposed paths (backward pass) give the same C.
        let aT = (0..<k * m).map { a[($0 % m) * k + $0 / m] }
        let bT = (0..<n * k).map { b[($0 % k) * n + $0 / k] }
        var transposed = [Float](repeating: 0, count: m * n)
        BLAS.gemm(.transposed, .transposed, m: m, n: n, k: k, a: aT, b: bT, c: &transposed)
        return plain == expected && transposed == expected
    }

    /// Runs `body` with SIGILL/SIGSEGV/SIGBUS/SIGFPE turned into execve of this program with
    /// `environment`.
    static func withCrashGuard<R>(reexecWith environment: [String: String], _ body: () -> R) -> R {
        // Everything the handler touches is built before the guard is armed.
        let entries = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let path = strdup(executablePath)
        defer {
            entries.forEach { free($0) }
            free(path)
        }
        return entries.withUnsafeBufferPointer { envp in
            rnn_dist_crash_guard_arm(path, CommandLine.unsafeArgv, envp.baseAddress)
            defer { rnn_dist_crash_guard_disarm() }
            return body()
        }
    }
}
