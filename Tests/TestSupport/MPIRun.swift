import Foundation

/// Locates the project's binaries and runs them under mpirun, as a user would.
public enum MPIRun {
    /// The package's root folder (this file is Tests/TestSupport/MPIRun.swift).
    public static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// A built product: $RNN_DIST_BUILD_DIR if set (Tests/run.sh points it at the release
    /// build), else the folder of the running test bundle (the debug build).
    public static func binary(_ name: String) -> String {
        if let directory = ProcessInfo.processInfo.environment["RNN_DIST_BUILD_DIR"] {
            return "\(directory)/\(name)"
        }
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        for directory in [bundleDirectory, Bundle.main.bundleURL.deletingLastPathComponent().path,
                          "\(packageRoot)/.build/debug"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "\(packageRoot)/.build/debug/\(name)"
    }

    public static var mpirun: String { ProcessRunner.which("mpirun") ?? "/usr/bin/mpirun" }

    /// mpirun's own flags for this machine: root needs --allow-run-as-root, more ranks than
    /// cores need --oversubscribe, and each rank gets one BLAS thread.
    public static func launcherArguments(ranks: Int) -> [String] {
        var arguments = ["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none",
                         "-x", "OPENBLAS_NUM_THREADS=1"]
        if geteuid() == 0 { arguments.insert("--allow-run-as-root", at: 0) }
        return arguments
    }

    /// Runs `binary` on `ranks` ranks with `arguments`; `mca` sets OpenMPI parameters (--mca NAME VALUE),
    /// `environment` variables of every rank (-x NAME=VALUE, which also reaches ranks on other hosts).
    @discardableResult
    public static func run(ranks: Int, binary: String, _ arguments: [String], mca: [String: String] = [:],
                           environment: [String: String] = [:], timeout: Double = 300,
                           onStart: ((Process) -> Void)? = nil) throws -> ProcessResult {
        let parameters = mca.sorted { $0.key < $1.key }.flatMap { ["--mca", $0.key, $0.value] }
            + environment.sorted { $0.key < $1.key }.flatMap { ["-x", "\($0.key)=\($0.value)"] }
        return try ProcessRunner.run(mpirun, launcherArguments(ranks: ranks) + parameters + [binary] + arguments,
                                     timeout: timeout, environment: environment, onStart: onStart)
    }

    /// The lines of `output` that start with `prefix`.
    public static func lines(_ output: String, startingWith prefix: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }
}
