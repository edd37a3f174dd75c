import BLAS
import BLASCore
import Benchmarks
import Dispatch
import Foundation

/// The bench's sgemm ceiling in a process of its own, on another OpenBLAS core: OpenBLAS reads
/// OPENBLAS_CORETYPE once, when it is loaded, so a rank whose BLAS is held to a core narrower
/// than its recurrence kernel (SgemmCeilingSource) starts `rnn-dist bench --sgemm-ceiling`
/// with the wider core and reads the rate it prints. Every rank starts its own at the same
/// time, so the ceiling is still measured under the load the ranks share.
enum SgemmCeilingProcess {
    /// What the separate process prints, one JSON line.
    struct Measurement: Codable {
        var core: String
        var rate: BLAS.SgemmRate
    }

    /// The measurement, in the separate process (it never initializes MPI).
    static func measureInThisProcess() -> Measurement {
        BLAS.threadCount = 1
        return Measurement(core: BLASCoreReport.current.library.coreName, rate: SgemmCeiling.measureRate())
    }

    /// The ceiling where `source` says; `here`: this process's core. A separate process that
    /// fails, or runs another core than asked, leaves the ceiling to this process, and the note
    /// says why.
    static func measure(_ source: SgemmCeilingSource, here: String) -> SgemmCeiling {
        switch source {
        case .thisProcess:
            return .measureHere(core: here)
        case let .separateProcess(core):
            let narrower = "this process's \(here) is narrower than the recurrence kernel"
            do {
                let measured = try run(core: core)
                guard measured.core.lowercased() == core.rawValue.lowercased() else {
                    return .measureHere(core: here, note: "\(narrower), but the separate process ran \(measured.core), not \(core.rawValue)")
                }
                return SgemmCeiling(rate: measured.rate, core: measured.core, separateProcess: true, note: narrower)
            } catch {
                return .measureHere(core: here, note: "\(narrower), but the separate process on \(core.rawValue) failed: \(error)")
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Seconds after which the separate process is given up (it needs about one).
    static let timeoutSeconds = 60.0

    private static func run(core: ReplacementCore) throws -> Measurement {
        var environment = ProcessInfo.processInfo.environment
        for marker in [BLASCoreVariable.replaced, BLASCoreVariable.fallback, BLASCoreVariable.execFailed,
                       BLASCoreVariable.testStart, BLASCoreVariable.testSelfCheck] {
            environment[marker] = nil
        }
        environment[BLASCoreVariable.coreType] = core.rawValue
        environment["OPENBLAS_NUM_THREADS"] = "1"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = ["bench", "--sgemm-ceiling"]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            process.terminate()
            throw Failure(description: "no result within \(Int(timeoutSeconds)) s")
        }
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        guard process.terminationStatus == 0 else { throw Failure(description: "exit status \(process.terminationStatus)") }
        guard let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").last,
              let measured = try? JSONDecoder().decode(Measurement.self, from: Data(line.utf8)) else {
            throw Failure(description: "no measurement in its output")
        }
        return measured
    }

    /// This process's own binary (what /proc/self/exe names), whatever argv[0] says.
    private static func executable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink(BLASCoreStartup.executablePath, &buffer, buffer.count - 1)
        guard length > 0 else { throw Failure(description: "cannot read \(BLASCoreStartup.executablePath)") }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
