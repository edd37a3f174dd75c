import Foundation

/// Runs the real rnn-dist binary under mpirun for the tests, in a fresh temporary folder.
public struct RNNDistRun {
    private let folder: TemporaryDirectory
    public var directory: String { folder.path }

    public init() throws { folder = try TemporaryDirectory() }

    public func path(_ name: String) -> String { folder.path(name) }

    public static var binary: String { MPIRun.binary("rnn-dist") }

    /// `mpirun -np ranks rnn-dist arguments...`
    @discardableResult
    public func run(ranks: Int, _ arguments: [String], mca: [String: String] = [:], environment: [String: String] = [:],
                    timeout: Double = 300, onStart: ((Process) -> Void)? = nil) throws -> ProcessResult {
        try MPIRun.run(ranks: ranks, binary: Self.binary, arguments, mca: mca, environment: environment, timeout: timeout,
                       onStart: onStart)
    }

    /// rnn-dist without mpirun (a singleton).
    @discardableResult
    public func runAlone(_ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        try ProcessRunner.run(Self.binary, arguments, timeout: timeout, currentDirectory: directory)
    }

    /// The pids the ranks wrote with --debug-pid-dir, once all `ranks` have (empty after a minute).
    public func waitForPids(_ directory: String, ranks: Int, timeout: Double = 60) -> [Int32] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let pids = (0..<ranks).compactMap { rank in
                (try? String(contentsOfFile: "\(directory)/rank-\(rank).pid", encoding: .utf8)).flatMap { Int32($0) }
            }
            if pids.count == ranks { return pids }
            usleep(20_000)
        }
        return []
    }

    public func remove() { folder.remove() }
}
