import Foundation

/// Runs the real rnn-dist binary under mpirun for the tests, in a fresh temporary folder.
public struct RNNDistRun {
    public let directory: String

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rnn-dist-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { "\(directory)/\(name)" }

    public static var binary: String { MPIRun.binary("rnn-dist") }

    /// `mpirun -np ranks rnn-dist arguments...`
    @discardableResult
    public func run(ranks: Int, _ arguments: [String], timeout: Double = 300,
                    onStart: ((Process) -> Void)? = nil) throws -> ProcessResult {
        try MPIRun.run(ranks: ranks, binary: Self.binary, arguments, timeout: timeout, onStart: onStart)
    }

    /// rnn-dist without mpirun (a singleton).
    @discardableResult
    public func runAlone(_ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        try ProcessRunner.run(Self.binary, arguments, timeout: timeout, currentDirectory: directory)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
