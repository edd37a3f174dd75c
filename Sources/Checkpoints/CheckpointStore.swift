import Foundation
import Safetensors
import RunErrors
import FileIO

/// The checkpoint folder of a run: `checkpoint-00001234.safetensors` files, written atomically
/// (temporary file, fsync, rename, fsync of the folder) so that a crash at any moment leaves
/// the previous checkpoint intact; only the newest `keep` are kept.
public struct CheckpointStore {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
    }

    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "checkpoint-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".safetensors"
    }

    /// The step a checkpoint file name stands for, or nil for other files (temporary ones included).
    public static func step(ofFileName name: String) -> Int? {
        guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors") else { return nil }
        return Int(name.dropFirst("checkpoint-".count).dropLast(".safetensors".count))
    }

    /// Creates the folder and proves it writable, before any training time is spent.
    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunError.badInput("cannot create checkpoint directory \(directory): \((error as NSError).localizedDescription)")
        }
        let probe = "\(directory)/.rnn-dist-write-test-\(getpid())"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            throw RunError.badInput("checkpoint directory \(directory) is not writable: \(FileIO.reason(errno))")
        }
        close(descriptor)
        unlink(probe)
    }

    /// Writes the checkpoint of `step`, then removes all but the newest `keep`.
    @discardableResult
    public func write(_ file: SafetensorsFile, step: Int) throws -> String {
        let path = "\(directory)/\(Self.fileName(step: step))"
        do {
            try file.write(to: path)
        } catch {
            throw RunError.fault("cannot write checkpoint \(path): \(error); the previous checkpoint is intact")
        }
        for old in checkpointSteps().dropFirst(keep) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(Self.fileName(step: old))")
        }
        return path
    }

    /// Steps of the checkpoints in the folder, newest first.
    public func checkpointSteps() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap(Self.step(ofFileName:)).sorted(by: >)
    }

    /// The newest checkpoint that reads and verifies, for `--resume DIR|FILE`. Corrupt or
    /// truncated ones are reported through `warn` and the next older one is tried.
    public static func newestValid(at path: String, warn: (String) -> Void) throws -> Checkpoint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.notFound(path: path)
        }
        guard isDirectory.boolValue else { return try Checkpoint.read(path: path) }
        let store = CheckpointStore(directory: path, keep: .max)
        var tried: [String] = []
        for step in store.checkpointSteps() {
            let file = "\(path)/\(fileName(step: step))"
            do {
                return try Checkpoint.read(path: file)
            } catch {
                warn("rnn-dist: warning: skipping \(file): \(error)")
                tried.append("\(fileName(step: step)) (\(error))")
            }
        }
        throw CheckpointError.noneValid(directory: path, tried: tried)
    }
}
