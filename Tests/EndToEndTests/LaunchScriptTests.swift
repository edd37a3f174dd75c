import Foundation
import TestSupport
import XCTest

/// The launch and test scripts: shellcheck-clean, and the batch scripts' own logic (refusing
/// to run outside a job, a missing binary, resuming from the job's checkpoint folder) with
/// SLURM_* / PBS_* variables set by hand. The real scheduler test is Tests/slurm/run.sh.
final class LaunchScriptTests: XCTestCase {
    private let root = MPIRun.packageRoot

    /// Every shell script of the repository, as shellcheck would be run on it by hand.
    private func shellScripts() throws -> [String] {
        var scripts: [String] = []
        let fileManager = FileManager.default
        for name in try fileManager.contentsOfDirectory(atPath: "\(root)/Launch").sorted()
        where name.hasSuffix(".sh") || name.hasSuffix(".sbatch") {
            scripts.append("Launch/\(name)")
        }
        if let walker = fileManager.enumerator(atPath: "\(root)/Tests") {
            for case let path as String in walker where path.hasSuffix(".sh") {
                scripts.append("Tests/\(path)")
            }
        }
        scripts.append(".ci/run")
        scripts.append("Fuzz/run.sh")
        return scripts.sorted()
    }

    func testScriptsAreShellcheckClean() throws {
        guard let shellcheck = ProcessRunner.which("shellcheck") else {
            throw XCTSkip("shellcheck is not installed (apt-get install shellcheck)")
        }
        let scripts = try shellScripts()
        for required in ["Launch/local.sh", "Launch/slurm.sbatch", "Launch/pbs.sh", "Tests/run.sh", "Tests/slurm/run.sh"] {
            XCTAssertTrue(scripts.contains(required), "\(required) is missing")
        }
        let result = try ProcessRunner.run(shellcheck, ["--shell=bash", "--external-sources"] + scripts,
                                           timeout: 120, currentDirectory: root)
        XCTAssertEqual(result.status, 0, "shellcheck found problems:\n\(result.output)")
    }

    func testEveryScriptStartsWithItsCommentBlock() throws {
        for script in ["Launch/local.sh", "Launch/slurm.sbatch", "Launch/pbs.sh", "Launch/elastic.sh"] {
            let text = try String(contentsOfFile: "\(root)/\(script)", encoding: .utf8)
            let header = text.split(separator: "\n").prefix(40).joined(separator: "\n")
            XCTAssertTrue(header.contains("What it does"), "\(script): no 'What it does' in its header")
            XCTAssertTrue(header.contains("What to edit"), "\(script): no 'What to edit' in its header")
        }
    }

    /// `env -u` so that a test suite running inside a real job does not look like one.
    private func runScript(_ script: String, _ arguments: [String] = [], unset: [String] = [],
                           environment: [String: String], in directory: String) throws -> ProcessResult {
        let unsetArguments = unset.flatMap { ["-u", $0] }
        let path = script.hasPrefix("/") ? script : "\(root)/\(script)"
        return try ProcessRunner.run("/usr/bin/env", unsetArguments + ["bash", path] + arguments,
                                     timeout: 120, environment: environment, currentDirectory: directory)
    }

    func testBatchScriptsRefuseToRunOutsideAJob() throws {
        let folder = try TemporaryDirectory()
        let slurm = try runScript("Launch/slurm.sbatch", unset: ["SLURM_JOB_ID"], environment: [:], in: folder.path)
        XCTAssertEqual(slurm.status, 1)
        XCTAssertTrue(slurm.stderr.contains("sbatch Launch/slurm.sbatch"), slurm.output)
        let pbs = try runScript("Launch/pbs.sh", unset: ["PBS_JOBID"], environment: [:], in: folder.path)
        XCTAssertEqual(pbs.status, 1)
        XCTAssertTrue(pbs.stderr.contains("qsub Launch/pbs.sh"), pbs.output)
    }

    /// Launch/elastic.sh refuses what it cannot run before it launches anything: its own bad
    /// options, rnn-dist's bad flags (rnn-dist's own line, through --print-config) and a
    /// configuration without a checkpoint folder — exit 1, one line, no log of an attempt.
    /// (Its relaunches are tested on real hosts: Tests/multihost/elastic.sh.)
    func testElasticSupervisorRefusesBadInputBeforeLaunching() throws {
        let folder = try TemporaryDirectory()
        let binary = RNNDistRun.binary
        let cases: [(name: String, arguments: [String], says: String)] = [
            ("no hosts", ["--binary", binary, "--", "--checkpoint-dir", "\(folder.path)/a"], "no hosts: give --hosts or --hostfile"),
            ("bad --max-restarts", ["--hosts", "h1:2", "--max-restarts", "many", "--binary", binary, "--"],
             "--max-restarts must be a whole number, not 'many'"),
            ("bad --hosts", ["--hosts", "h1:0", "--binary", binary, "--"], "--hosts: 'h1:0' is not HOST or HOST:SLOTS"),
            ("unknown option", ["--hosts", "h1", "--restarts", "2", "--binary", binary, "--"], "unknown option '--restarts'"),
            ("rnn-dist's bad flag", ["--hosts", "h1:2", "--binary", binary, "--", "--hidden", "0", "--checkpoint-dir", "\(folder.path)/b"],
             "rnn-dist: config key 'hidden' is 0"),
            ("no checkpoint-dir", ["--hosts", "h1:2", "--binary", binary, "--", "--steps", "5"],
             "set checkpoint-dir (flag or config)"),
        ]
        for test in cases {
            let result = try runScript("Launch/elastic.sh", test.arguments, environment: [:], in: folder.path)
            XCTAssertEqual(result.status, 1, "\(test.name): \(result.output)")
            XCTAssertTrue(result.stderr.contains(test.says), "\(test.name): \(result.output)")
        }
        let attempts = try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { $0.contains("elastic.log.") }
        XCTAssertEqual(attempts, [], "an attempt was launched")
    }

    func testBatchScriptsNameAMissingBinary() throws {
        let folder = try TemporaryDirectory()
        let nodes = try folder.file("nodes", text: "localhost\nlocalhost\n")
        let missing = folder.path + "/no-such-binary"
        let slurm = try runScript("Launch/slurm.sbatch", environment: [
            "SLURM_JOB_ID": "11", "SLURM_SUBMIT_DIR": folder.path, "RNN_DIST_BIN": missing], in: folder.path)
        XCTAssertEqual(slurm.status, 1)
        XCTAssertTrue(slurm.stderr.contains("no rnn-dist binary at \(missing)"), slurm.output)
        let pbs = try runScript("Launch/pbs.sh", environment: [
            "PBS_JOBID": "12.server", "PBS_NODEFILE": nodes, "PBS_O_WORKDIR": folder.path, "RNN_DIST_BIN": missing],
            in: folder.path)
        XCTAssertEqual(pbs.status, 1)
        XCTAssertTrue(pbs.stderr.contains("no rnn-dist binary at \(missing)"), pbs.output)
    }

    /// Slurm and PBS run a copy of the job script from a spool folder, where
    /// Launch/batch-common.sh is not beside it: the scripts then find it in the submit folder's
    /// Launch/, or in the checkout the binary was built in, and otherwise stop with exit 1.
    /// A stand-in srun and mpirun (first in PATH) record the command the script launched.
    func testBatchScriptsFindTheSharedPartFromASpoolCopy() throws {
        let folder = try TemporaryDirectory()
        let fileManager = FileManager.default
        for path in ["spool", "bin", "checkout/Launch", "checkout/.build/release", "elsewhere"] {
            try fileManager.createDirectory(atPath: "\(folder.path)/\(path)", withIntermediateDirectories: true)
        }
        for script in ["slurm.sbatch", "pbs.sh"] {
            try fileManager.copyItem(atPath: "\(root)/Launch/\(script)", toPath: "\(folder.path)/spool/\(script)")
        }
        try fileManager.copyItem(atPath: "\(root)/Launch/batch-common.sh", toPath: "\(folder.path)/checkout/Launch/batch-common.sh")
        let launcher = "#!/bin/sh\necho \"launched: $0 $*\"\n"
        for name in ["srun", "mpirun"] {
            _ = try folder.file("bin/\(name)", text: launcher)
        }
        let checkoutBinary = try folder.file("checkout/.build/release/rnn-dist", text: "#!/bin/sh\n")
        let strayBinary = try folder.file("bin/rnn-dist", text: "#!/bin/sh\n")
        let nodes = try folder.file("nodes", text: "localhost\nlocalhost\n")
        for file in ["bin/srun", "bin/mpirun", "checkout/.build/release/rnn-dist", "bin/rnn-dist"] {
            try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(folder.path)/\(file)")
        }
        let path = "\(folder.path)/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let slurm = ["SLURM_JOB_ID": "21", "PATH": path, "RNN_DIST_RUNS": folder.path + "/runs"]
        let pbs = ["PBS_JOBID": "22.server", "PBS_NODEFILE": nodes, "PATH": path, "RNN_DIST_RUNS": folder.path + "/runs"]
        let cases: [(name: String, script: String, environment: [String: String], found: Bool)] = [
            ("slurm, submitted from the checkout", "slurm.sbatch", slurm.merging(["SLURM_SUBMIT_DIR": folder.path + "/checkout"]) { $1 }, true),
            ("slurm, the binary's checkout", "slurm.sbatch",
             slurm.merging(["SLURM_SUBMIT_DIR": folder.path + "/elsewhere", "RNN_DIST_BIN": checkoutBinary]) { $1 }, true),
            ("slurm, nowhere", "slurm.sbatch",
             slurm.merging(["SLURM_SUBMIT_DIR": folder.path + "/elsewhere", "RNN_DIST_BIN": strayBinary]) { $1 }, false),
            ("pbs, submitted from the checkout", "pbs.sh", pbs.merging(["PBS_O_WORKDIR": folder.path + "/checkout"]) { $1 }, true),
            ("pbs, the binary's checkout", "pbs.sh",
             pbs.merging(["PBS_O_WORKDIR": folder.path + "/elsewhere", "RNN_DIST_BIN": checkoutBinary]) { $1 }, true),
            ("pbs, nowhere", "pbs.sh",
             pbs.merging(["PBS_O_WORKDIR": folder.path + "/elsewhere", "RNN_DIST_BIN": strayBinary]) { $1 }, false),
        ]
        for test in cases {
            // Nothing of the test's own environment may choose for the script.
            let unset = ["SLURM_RESTART_COUNT", "RNN_DIST_LAUNCHER", "RNN_DIST_CHECKPOINT_DIR", "RNN_DIST_ARGS"]
                + (test.environment["RNN_DIST_BIN"] == nil ? ["RNN_DIST_BIN"] : [])
            let result = try runScript("\(folder.path)/spool/\(test.script)", ["--steps", "5"], unset: unset,
                                       environment: test.environment, in: folder.path + "/elsewhere")
            if test.found {
                XCTAssertEqual(result.status, 0, "\(test.name): \(result.output)")
                XCTAssertTrue(result.stdout.contains("launched: \(folder.path)/bin/"), "\(test.name): \(result.output)")
                XCTAssertTrue(result.stdout.contains("rnn-dist train --checkpoint-dir"), "\(test.name): \(result.output)")
                XCTAssertTrue(result.stdout.contains("--steps 5"), "\(test.name): \(result.output)")
                XCTAssertTrue(result.stderr.contains("rnn-dist exited with 0"), "\(test.name): \(result.output)")
            } else {
                XCTAssertEqual(result.status, 1, "\(test.name): \(result.output)")
                XCTAssertTrue(result.stderr.contains("cannot find Launch/batch-common.sh"), "\(test.name): \(result.output)")
                XCTAssertFalse(result.stdout.contains("launched:"), "\(test.name): \(result.output)")
            }
        }
    }

    /// slurm.sbatch with the variables Slurm would set (mpirun reads the allocation from
    /// them), twice: the second start finds the first one's checkpoint and resumes from it.
    func testSlurmScriptResumesFromTheJobsCheckpointFolder() throws {
        let binary = RNNDistRun.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no rnn-dist binary at \(binary)") }
        let folder = try TemporaryDirectory()
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let hostname = String(cString: host)
        let environment = [
            "SLURM_JOB_ID": "77", "SLURM_JOBID": "77", "SLURM_SUBMIT_DIR": folder.path,
            "SLURM_NODELIST": hostname, "SLURM_JOB_NODELIST": hostname, "SLURM_TASKS_PER_NODE": "2",
            "SLURM_NTASKS": "2", "SLURM_JOB_NUM_NODES": "1", "SLURM_CPUS_PER_TASK": "1",
            "RNN_DIST_LAUNCHER": "mpirun", "RNN_DIST_BIN": binary,
        ]
        let first = try runScript("Launch/slurm.sbatch", ["--steps", "20", "--log-every", "10"],
                                  environment: environment, in: folder.path)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.stdout.contains("rnn-dist: 2 ranks"), first.output)
        let checkpoints = folder.path + "/runs/77/checkpoints"
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoints + "/checkpoint-00000020.safetensors"))
        XCTAssertFalse(first.stderr.contains("resuming"), first.output)

        var restarted = environment
        restarted["SLURM_RESTART_COUNT"] = "1"
        let second = try runScript("Launch/slurm.sbatch", ["train", "--steps", "40", "--log-every", "10"],
                                   environment: restarted, in: folder.path)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("resumed from \(checkpoints)/checkpoint-00000020.safetensors at step 20"),
                      second.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.path + "/runs/77/metrics-1.jsonl"))
    }
}
