import Foundation
import TestSupport
import XCTest
import Safetensors

/// The trainer on real ranks: the real binary under mpirun -np 1, 2, 3, 4 and 8.
final class DistributedTrainingTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    /// A small, fast model on the built-in Markov task.
    private func smallRun(_ extra: [String]) -> [String] {
        ["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12", "--steps", "20",
         "--optimizer", "adam", "--lr", "0.01", "--clip-mode", "norm", "--clip", "1", "--log-every", "10"] + extra
    }

    private func trainAndLoad(ranks: Int, _ arguments: [String], name: String,
                              environment: [String: String] = [:]) throws -> [String: [Float]] {
        let output = run.path("\(name).safetensors")
        let result = try run.run(ranks: ranks, arguments + ["--save", output], environment: environment)
        XCTAssertEqual(result.status, 0, "-np \(ranks) \(arguments) failed:\n\(result.output)")
        let file = try SafetensorsFile.read(path: output)
        var tensors: [String: [Float]] = [:]
        for name in ["W_xh", "W_hh", "W_hy", "b_h", "b_y"] {
            tensors[name] = try XCTUnwrap(file.tensors[name], "\(name) missing").floats()
        }
        return tensors
    }

    /// RoundingSpread's bound for `arguments` trained on one rank (`one`, already trained).
    private func roundingBound(_ one: [String: [Float]], _ arguments: [String], _ what: String) throws -> Double {
        try RoundingSpread.bound(reference: one, what) { environment, tag in
            try trainAndLoad(ranks: 1, arguments, name: "\(what)-\(tag)", environment: environment)
        }
    }

    /// docs/design.md §4: the same global batch gives the same trajectory whatever the rank count,
    /// up to float32 rounding (RoundingSpread: the bound is measured on this CPU).
    func testRankCountInvariance() throws {
        for globalBatch in [12, 10] { // 10 does not divide by 4 (3,3,2,2) nor by 3
            let arguments = smallRun(["--global-batch", "\(globalBatch)"])
            let one = try trainAndLoad(ranks: 1, arguments, name: "np1-g\(globalBatch)")
            let bound = try roundingBound(one, arguments, "g\(globalBatch)")
            for ranks in [2, 3, 4] {
                let many = try trainAndLoad(ranks: ranks, arguments, name: "np\(ranks)-g\(globalBatch)")
                let difference = ParameterDifference.maxRelative(one, many)
                XCTAssertLessThan(difference, bound, "-np \(ranks) vs -np 1, G=\(globalBatch): relative \(difference)")
            }
        }
    }

    /// Overlapping the allreduce with BPTT changes when each bucket is reduced, never its bits:
    /// on 3 ranks (where the order of additions shows) the saved files are byte-identical with
    /// and without, for the tanh RNN (dW_hh in 4 row blocks), a 2-layer LSTM with dropout and a
    /// GRU — each above GradientBuckets.minimumForPieces (65,536 elements), so reduced in pieces.
    func testOverlappedAllreduceIsBitIdentical() throws {
        let models = [["--hidden", "256"], ["--cell", "lstm", "--layers", "2", "--dropout", "0.2", "--hidden", "64"],
                      ["--cell", "gru", "--hidden", "128"]]
        for (index, model) in models.enumerated() {
            var files: [Data] = []
            for flag in ["--overlap-allreduce", "--no-overlap-allreduce"] {
                let output = run.path("overlap-\(index)\(flag).safetensors")
                let result = try run.run(ranks: 3, smallRun(["--global-batch", "12", "--steps", "8", flag, "--save", output] + model))
                XCTAssertEqual(result.status, 0, "\(model) \(flag):\n\(result.output)")
                files.append(try Data(contentsOf: URL(fileURLWithPath: output)))
            }
            XCTAssertFalse(files[0].isEmpty)
            XCTAssertEqual(files[0], files[1], "\(model): overlap changed the parameters")
        }
        // And the rank count still does not change the trajectory beyond rounding (pieces sum in
        // another order). At H=256 rounding grows with H: the bound is this run's own spread.
        let tanh = smallRun(["--global-batch", "12", "--steps", "8", "--hidden", "256"])
        let one = try trainAndLoad(ranks: 1, tanh, name: "overlap-np1")
        let bound = try roundingBound(one, tanh, "overlap")
        let difference = ParameterDifference.maxRelative(one, try trainAndLoad(ranks: 3, tanh, name: "overlap-np3"))
        XCTAssertLessThan(difference, bound, "-np 3 with overlap vs -np 1: relative \(difference)")
    }

    /// The three allreduce algorithms (docs/multihost.md) on 3 ranks of this one host, the
    /// gradient in pieces (H=256): ring and two-level give byte-identical files with and without
    /// overlap (their order of additions depends on the pieces only); every mode ends with the
    /// same parameters on every rank (the checksum) and within the rounding bound of one rank
    /// (each sums 3 terms per element in some order: RoundingSpread's bound covers any order).
    /// mpi's order is the library's, so its overlap is not compared bit for bit. The header
    /// names what ran, and auto on one host is the ring.
    func testAllreduceModes() throws {
        let tanh = smallRun(["--global-batch", "12", "--steps", "8", "--hidden", "256", "--checksum-every", "4"])
        let one = try trainAndLoad(ranks: 1, tanh, name: "modes-np1")
        let bound = try roundingBound(one, tanh, "modes")
        // Two-level across hosts by rings and by leaders (on one host: reduce-scatter/allgather
        // against gather to rank 0/send back) add in the same order: the same bits.
        var twoLevelFiles: [String: Data] = [:]
        for (mode, stage) in [("ring", nil), ("two-level", "rings"), ("two-level", "leaders"), ("mpi", nil)] as [(String, String?)] {
            var files: [Data] = []
            for flag in ["--overlap-allreduce", "--no-overlap-allreduce"] {
                let output = run.path("mode-\(mode)\(stage ?? "")\(flag).safetensors")
                let how = ["--allreduce", mode] + (stage.map { ["--two-level-cross-host", $0] } ?? [])
                let result = try run.run(ranks: 3, tanh + how + [flag, "--save", output])
                XCTAssertEqual(result.status, 0, "\(mode) \(flag):\n\(result.output)")
                let across = stage.map { "; across hosts: \($0) (chosen)" } ?? ""
                XCTAssertTrue(result.stdout.contains("allreduce: \(mode) (1 host × 3 ranks\(across)), \(flag == "--overlap-allreduce" ? "overlapped with BPTT" : "after BPTT")"),
                              result.output)
                XCTAssertTrue(result.stdout.contains("identical on all 3 ranks"), result.output)
                files.append(try Data(contentsOf: URL(fileURLWithPath: output)))
                let tensors = try SafetensorsFile.read(path: output).tensors
                let many = try Dictionary(uniqueKeysWithValues: ["W_xh", "W_hh", "W_hy", "b_h", "b_y"].map {
                    ($0, try XCTUnwrap(tensors[$0]).floats())
                })
                let difference = ParameterDifference.maxRelative(one, many)
                XCTAssertLessThan(difference, bound, "\(mode) \(flag) on 3 ranks vs 1: relative \(difference)")
            }
            if mode != "mpi" { XCTAssertEqual(files[0], files[1], "\(mode) \(stage ?? ""): overlap changed the parameters") }
            if let stage { twoLevelFiles[stage] = files[0] }
        }
        XCTAssertEqual(twoLevelFiles["rings"], twoLevelFiles["leaders"], "two-level: leaders and rings gave different parameters")
        // auto times both on the gradient and says so.
        let timed = try run.run(ranks: 3, tanh + ["--allreduce", "two-level", "--steps", "1"])
        XCTAssertEqual(timed.status, 0, timed.output)
        XCTAssertNotNil(timed.stdout.range(of: #"allreduce: two-level \(1 host × 3 ranks; across hosts: (rings|leaders) \([0-9.]+ ms, (rings|leaders) [0-9.]+ ms\)\)"#,
                                            options: .regularExpression), timed.output)
        let auto = try run.run(ranks: 2, smallRun(["--global-batch", "8", "--steps", "2"]))
        XCTAssertEqual(auto.status, 0, auto.output)
        XCTAssertTrue(auto.stdout.contains("allreduce: ring (auto: 1 host × 2 ranks), overlapped with BPTT"), auto.output)
    }

    /// Different seeds must give different parameters: the comparison above can fail.
    func testComparisonDetectsDifferentRuns() throws {
        let a = try trainAndLoad(ranks: 1, smallRun(["--global-batch", "8", "--seed", "1"]), name: "seed1")
        let b = try trainAndLoad(ranks: 1, smallRun(["--global-batch", "8", "--seed", "2"]), name: "seed2")
        XCTAssertGreaterThan(ParameterDifference.maxRelative(a, b), 1e-3)
    }

    /// Every rank ends with the same parameters, and a rank that drifts is caught.
    func testParametersIdenticalAcrossRanksAndDriftDetected() throws {
        let healthy = try run.run(ranks: 4, smallRun(["--global-batch", "8", "--checksum-every", "5"]))
        XCTAssertEqual(healthy.status, 0, healthy.output)
        XCTAssertTrue(healthy.stdout.contains("identical on all 4 ranks"), healthy.output)

        let drifted = try run.run(ranks: 4, smallRun(["--global-batch", "8", "--checksum-every", "5",
                                                        "--debug-perturb-rank", "2"]))
        XCTAssertEqual(drifted.status, 2, drifted.output)
        XCTAssertTrue(drifted.stderr.contains("parameters differ across ranks at step 5"), drifted.output)
    }

    /// Over one epoch, with 1 to 4 ranks, every sequence is used exactly once. The last step
    /// of an epoch wraps into the next one (docs/design.md §3), so the first N positions of the global
    /// order (step by step, rank slices in rank order) must be a permutation of 0..<N.
    func testShardingCoversEachSequenceOncePerEpoch() throws {
        for ranks in 1...4 {
            let traceDirectory = run.path("trace-\(ranks)")
            try FileManager.default.createDirectory(atPath: traceDirectory, withIntermediateDirectories: true)
            let result = try run.run(ranks: ranks, ["--data", "synthetic:markov", "--hidden", "8", "--seq-len", "40",
                                                    "--global-batch", "7", "--epochs", "1", "--quiet",
                                                    "--debug-trace-shards", traceDirectory])
            XCTAssertEqual(result.status, 0, result.output)
            var shardsByStep: [Int: [[Int]]] = [:]
            var datasetCount = -1
            for rank in 0..<ranks {
                let text = try String(contentsOfFile: "\(traceDirectory)/rank-\(rank).txt", encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.first == "sequences" { datasetCount = Int(fields[1])!; continue }
                    shardsByStep[Int(fields[0])!, default: []].append(fields.dropFirst().map { Int($0)! })
                }
            }
            XCTAssertGreaterThan(datasetCount, 7)
            XCTAssertTrue(shardsByStep.values.allSatisfy { $0.count == ranks }, "every rank takes part in every step")
            let globalOrder = shardsByStep.keys.sorted().flatMap { shardsByStep[$0]!.joined() }
            XCTAssertGreaterThanOrEqual(globalOrder.count, datasetCount)
            let epoch = globalOrder.prefix(datasetCount)
            let duplicates = Dictionary(grouping: epoch, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            let missing = Set(0..<datasetCount).subtracting(epoch).sorted()
            XCTAssertTrue(duplicates.isEmpty && missing.isEmpty,
                          "-np \(ranks): duplicates \(duplicates.prefix(10)), missing \(missing.prefix(10))")
            let sizes = shardsByStep[0]!.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "slices differ by at most one: \(sizes)")
        }
    }

    /// Local clipping (each rank's gradient before the allreduce) is a different algorithm.
    func testLocalClippingDiffersFromGlobal() throws {
        let base = smallRun(["--global-batch", "8", "--clip", "0.05"])
        let global = try trainAndLoad(ranks: 2, base + ["--clip-scope", "global"], name: "global")
        let local = try trainAndLoad(ranks: 2, base + ["--clip-scope", "local"], name: "local")
        XCTAssertGreaterThan(ParameterDifference.maxRelative(global, local), 1e-4)
        // On one rank the two coincide: the local gradient is the global one.
        let globalOne = try trainAndLoad(ranks: 1, base + ["--clip-scope", "global"], name: "global1")
        let localOne = try trainAndLoad(ranks: 1, base + ["--clip-scope", "local"], name: "local1")
        XCTAssertLessThan(ParameterDifference.maxRelative(globalOne, localOne), 1e-6)
    }

    /// The README's main command: the bare binary on 8 ranks learns the default task to
    /// within 10% of its entropy floor.
    func testBareRunOnEightRanksReachesTheEntropyFloor() throws {
        let result = try run.run(ranks: 8, [], timeout: 600)
        XCTAssertEqual(result.status, 0, result.output)
        let summary = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("final loss") }, result.output)
        // "final loss L nats/token (entropy floor F, within P%)"
        let numbers = summary.split(whereSeparator: { " ,()%".contains($0) }).compactMap { Double($0) }
        XCTAssertEqual(numbers.count, 3, String(summary))
        let (loss, floor) = (numbers[0], numbers[1])
        XCTAssertLessThanOrEqual(loss, floor * 1.10, "final loss \(loss) not within 10% of the floor \(floor)\n\(result.stdout)")
        XCTAssertTrue(result.stdout.contains("8 ranks"), result.stdout)
    }
}
