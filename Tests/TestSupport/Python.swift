import Foundation

/// python3 with the packages a test reads our files with (TensorBoard's reader, safetensors),
/// installed with pip when missing.
public enum Python {
    /// Why python3 cannot run what a test needs (no python3; pip failed, e.g. offline). Tests
    /// turn it into a skip that says so.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The path of python3, once `import` of every one of `modules` works in it, after
    /// `pip install packages` if one did not.
    public static func importing(_ modules: [String], installing packages: [String]) throws -> String {
        guard let python = ProcessRunner.which("python3") else { throw Unavailable(description: "python3 is not installed") }
        let probe = ["-c", modules.map { "import \($0)" }.joined(separator: "; ")]
        if (try? ProcessRunner.run(python, probe, timeout: 120))?.status == 0 { return python }
        let pip = try? ProcessRunner.run(python, ["-m", "pip", "install", "--quiet"] + packages, timeout: 600)
        guard pip?.status == 0 else {
            let why = pip.map { $0.stderr.split(separator: "\n").suffix(2).joined(separator: " | ") } ?? "pip did not run"
            throw Unavailable(description: "\(modules.joined(separator: ", ")) not importable and "
                + "`python3 -m pip install \(packages.joined(separator: " "))` failed (offline or no pip): \(why)")
        }
        guard (try? ProcessRunner.run(python, probe, timeout: 120))?.status == 0 else {
            throw Unavailable(description: "pip installed \(packages.joined(separator: " ")) but python3 still cannot import "
                + modules.joined(separator: ", "))
        }
        return python
    }
}
