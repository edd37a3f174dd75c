import Foundation
import TestSupport
import XCTest

/// Metrics, TensorBoard events, diagnostics and the benchmark, from real runs.
final class ObservabilityRunTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    /// The JSON object a `--json` command printed (its first line that starts with "{").
    private func jsonReport(of result: ProcessResult) throws -> [String: Any] {
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("{") }, result.output)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], result.output)
    }

    func testMetricsCarryTimingValidationAndDiagnostics() throws {
        let metrics = run.path("m.jsonl"), events = run.path("tb")
        let result = try run.run(ranks: 3, ["--steps", "40", "--log-every", "10", "--eval-every", "20", "--diagnose-every", "20",
                                            "--metrics", metrics, "--tensorboard", events])
        XCTAssertEqual(result.status, 0, result.output)
        let records = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(records.compactMap { $0["step"] as? Int }, [10, 20, 30, 40])
        for key in ["step", "epoch", "loss", "tokens", "grad_norm", "clipped", "lr", "tokens_per_s", "compute_s", "allreduce_s",
                    "slowest_rank", "imbalance", "rank_compute_s"] {
            XCTAssertNotNil(records[0][key], "metrics lack \(key)")
        }
        XCTAssertEqual((records[0]["rank_compute_s"] as? [Double])?.count, 3)
        XCTAssertNotNil(records[1]["val_loss"])
        XCTAssertNil(records[0]["val_loss"])
        let survival = try XCTUnwrap(records[1]["gradient_survival"] as? [String: [Double]], "\(records[1])")
        XCTAssertEqual(Array(survival.keys), ["layer0_h"])
        XCTAssertEqual(survival["layer0_h"]?.count, 32)
        XCTAssertEqual(survival["layer0_h"]?.first, 1)
        XCTAssertNil(records[0]["gradient_survival"], "only every 20 steps")
        XCTAssertNotNil(records[1]["spectral_radius_w_hh"])
        XCTAssertTrue(result.stdout.contains("step 20: gradient survival (4 sequences × 16 loss steps): layer 0 h "), result.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: events)
        XCTAssertEqual(files.filter { $0.hasPrefix("events.out.tfevents.") }.count, 1, "\(files)")
        XCTAssertTrue(result.stdout.contains("slowest rank"), result.stdout)
    }

    /// `--diagnose-every` on a 2-layer lstm: the same survival curves as `diagnose` (h and c of
    /// each layer), in the metrics, in TensorBoard and in the log.
    func testDiagnoseEveryOnGatedModel() throws {
        let metrics = run.path("m.jsonl"), events = run.path("tb")
        let result = try run.run(ranks: 2, ["--data", "synthetic:markov", "--cell", "lstm", "--layers", "2", "--hidden", "16",
                                            "--seq-len", "10", "--global-batch", "4", "--steps", "20", "--log-every", "4",
                                            "--diagnose-every", "10", "--metrics", metrics, "--tensorboard", events])
        XCTAssertEqual(result.status, 0, result.output)
        let records = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        // A diagnostics step between log steps gets a metrics line of its own.
        XCTAssertEqual(records.compactMap { $0["step"] as? Int }, [4, 8, 10, 12, 16, 20])
        XCTAssertEqual(records.map { $0["gradient_survival"] != nil }, [false, false, true, false, false, true])
        for record in [records[2], records[5]] {
            let survival = try XCTUnwrap(record["gradient_survival"] as? [String: [Double]], "\(record)")
            XCTAssertEqual(survival.keys.sorted(), ["layer0_c", "layer0_h", "layer1_c", "layer1_h"])
            for (key, values) in survival {
                XCTAssertEqual(values.count, 10, key)
                XCTAssertEqual(values[0], 1, key)
                XCTAssertTrue(values.allSatisfy { $0.isFinite && $0 >= 0 } && values.dropFirst().contains { $0 > 0 && $0 < 1 },
                              "\(key): \(values)")
            }
            XCTAssertNil(record["spectral_radius_w_hh"], "no W_hh spectrum for lstm")
        }
        XCTAssertTrue(result.stdout.contains("step 10: gradient survival (2 sequences × 10 loss steps): layer 0 h "), result.stdout)
        XCTAssertTrue(result.stdout.contains("; layer 1 c "), result.stdout)
        // The event file holds the tags (protobuf strings) at the table distances.
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: events).first)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: events + "/" + file))
        for tag in ["diag/survival/layer0_h/k1", "diag/survival/layer1_c/k5", "diag/survival/layer0_c/k9"] {
            XCTAssertNotNil(bytes.range(of: Data(tag.utf8)), "TensorBoard lacks \(tag)")
        }
        XCTAssertNil(bytes.range(of: Data("diag/survival/layer0_h/k3".utf8)), "only the table distances")
    }

    func testBenchReportsTheRequiredKeys() throws {
        let result = try run.run(ranks: 2, ["bench", "--hidden", "32", "--seq-len", "16", "--batch-per-rank", "4",
                                            "--warmup", "2", "--timed", "5", "--json"])
        XCTAssertEqual(result.status, 0, result.output)
        let report = try jsonReport(of: result)
        for key in ["tokens_per_s", "gflops", "sgemm_gflops_single_thread", "ranks", "forward_s", "backward_s", "allreduce_s",
                    "optimizer_s", "allocations_per_step", "peak_rss_mib_per_rank", "percent_of_sgemm_ceiling"] {
            XCTAssertNotNil(report[key], "bench JSON lacks \(key)")
        }
        XCTAssertEqual(report["ranks"] as? Int, 2)
        XCTAssertGreaterThan(report["tokens_per_s"] as? Double ?? 0, 0)
        // The ceiling is the sustained sgemm rate; the best single product is beside it.
        let sustained = report["sgemm_gflops_single_thread"] as? Double ?? 0
        XCTAssertGreaterThanOrEqual(report["sgemm_gflops_best_product"] as? Double ?? 0, sustained * (1 - 1e-12))
        XCTAssertGreaterThan(sustained, 0)
        // The ceiling is the ranks' mean, so it lies between the slowest and the fastest rank's rate.
        let slowest = try XCTUnwrap(report["sgemm_gflops_slowest_rank"] as? Double)
        let fastest = try XCTUnwrap(report["sgemm_gflops_fastest_rank"] as? Double)
        XCTAssertLessThanOrEqual(slowest, sustained * (1 + 1e-12))
        XCTAssertGreaterThanOrEqual(fastest, sustained * (1 - 1e-12))
        XCTAssertNotNil(report["sgemm_core"] as? String)
        XCTAssertNotNil(report["sgemm_separate_process"] as? Bool)
        XCTAssertEqual(report["cell"] as? String, "rnn")
        XCTAssertEqual(report["layers"] as? Int, 1)
        XCTAssertEqual(report["flops_per_token"] as? Double, Double(6 * 32 * 32 + 6 * 32 * 65), "6H² + 6HV")
        XCTAssertEqual(report["overlap_allreduce"] as? Bool, true)
        for key in ["reduced_during_backward", "waiting_for_slowest_rank_s", "communication_plus_optimizer_percent"] {
            XCTAssertNotNil(report[key], "bench JSON lacks \(key)")
        }

        // A gated stack: 2-layer LSTM, H=32, V=65: 2·6·4·H² (recurrence) + 6·4·H² (layer 1's
        // input projection) + 6HV.
        let gated = try run.run(ranks: 2, ["bench", "--cell", "lstm", "--layers", "2", "--hidden", "32", "--seq-len", "16",
                                           "--batch-per-rank", "4", "--warmup", "2", "--timed", "5", "--json"])
        XCTAssertEqual(gated.status, 0, gated.output)
        let gatedReport = try jsonReport(of: gated)
        XCTAssertEqual(gatedReport["cell"] as? String, "lstm")
        XCTAssertEqual(gatedReport["layers"] as? Int, 2)
        XCTAssertEqual(gatedReport["flops_per_token"] as? Double, Double(2 * 24 * 32 * 32 + 24 * 32 * 32 + 6 * 32 * 65))
        XCTAssertGreaterThan(gatedReport["tokens_per_s"] as? Double ?? 0, 0)

        // An embedding of E = H, tied to the output layer: layer 0 reads [E] × [E, G·H], another
        // 6·G·H·E; the table is the output weight, so the gradient has V·E fewer floats than untied.
        let embedded = try run.run(ranks: 2, ["bench", "--cell", "gru", "--hidden", "32", "--embedding", "32", "--tie-weights",
                                              "--seq-len", "16", "--batch-per-rank", "4", "--warmup", "2", "--timed", "5", "--json"])
        XCTAssertEqual(embedded.status, 0, embedded.output)
        let embeddedReport = try jsonReport(of: embedded)
        XCTAssertEqual(embeddedReport["embedding"] as? Int, 32)
        XCTAssertEqual(embeddedReport["tie_weights"] as? Bool, true)
        XCTAssertEqual(embeddedReport["flops_per_token"] as? Double, Double(18 * 32 * 32 + 18 * 32 * 32 + 6 * 32 * 65))
        XCTAssertEqual(embeddedReport["allocations_per_step"] as? Double, 0, "E = 32 > 8: OpenBLAS's small sgemm allocates nothing")
        let text = try run.run(ranks: 1, ["bench", "--hidden", "32", "--embedding", "16", "--seq-len", "16", "--batch-per-rank", "4",
                                          "--warmup", "1", "--timed", "2"])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.stdout.contains("V=65 E=16,"), text.output)
        XCTAssertNil(report["embedding"], "one-hot input has no embedding key")
        let mismatched = try run.run(ranks: 1, ["bench", "--hidden", "32", "--embedding", "16", "--tie-weights"])
        XCTAssertNotEqual(mismatched.status, 0)
        XCTAssertTrue(mismatched.output.contains("--tie-weights needs --embedding equal to --hidden (32), got 16"), mismatched.output)

        // One schema: every quantity the kernel bench reports has the training bench's name.
        let kernel = try run.runAlone(["bench", "--kernel", "--hidden", "32", "--seq-len", "16", "--batch-per-rank", "4",
                                       "--warmup", "1", "--timed", "2", "--json"])
        XCTAssertEqual(kernel.status, 0, kernel.output)
        let kernelReport = try jsonReport(of: kernel)
        XCTAssertEqual(Set(kernelReport.keys).subtracting(report.keys).sorted(), [], "kernel bench keys the training bench spells otherwise")
        XCTAssertEqual(kernelReport["flops_per_token"] as? Double, report["flops_per_token"] as? Double)

        let allreduce = try run.run(ranks: 2, ["bench", "--allreduce", "--json"])
        XCTAssertEqual(allreduce.status, 0, allreduce.output)
        let object = try jsonReport(of: allreduce)
        XCTAssertNotNil(object["alpha_us"])
        XCTAssertGreaterThan((object["measurements"] as? [Any])?.count ?? 0, 10)
        XCTAssertGreaterThan(object["beta_gb_per_s"] as? Double ?? 0, 0, "a bandwidth, finite (JSON has no infinity)")
        // One rank moves nothing: the fit reports 0, and the JSON is still written.
        let alone = try run.run(ranks: 1, ["bench", "--allreduce", "--json"])
        XCTAssertEqual(alone.status, 0, alone.output)
        XCTAssertTrue(alone.stdout.contains("\"beta_gb_per_s\":0"), alone.output)

        // One host: the world ring and the host ring are measured, there are no rings across hosts.
        let hops = try run.run(ranks: 2, ["bench", "--hops", "--json"])
        XCTAssertEqual(hops.status, 0, hops.output)
        let hopReport = try jsonReport(of: hops)
        XCTAssertEqual(hopReport["topology"] as? String, "1 host × 2 ranks")
        let hopTimes = try XCTUnwrap(hopReport["hop_us"] as? [String: Double], hops.output)
        XCTAssertEqual(hopTimes.keys.sorted(), ["host_rings", "world_ring"])
        XCTAssertTrue(hopTimes.values.allSatisfy { $0 > 0 && $0.isFinite }, "\(hopTimes)")
        let both = try run.run(ranks: 1, ["bench", "--hops", "--allreduce"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.output.contains("separate benchmarks"), both.output)
    }
    /// The allreduce really overlaps BPTT: with overlap some of the gradient is summed before
    /// the backward pass ends (the output layer's, reduced while the recurrence runs back),
    /// without it none is. H=512, T=64 and 32 sequences make the recurrence backward (64
    /// progress calls) long enough for that even on a machine at load 7, where H=256 with 16
    /// sequences once saw none; the mean over 10 steps needs one step where the neighbour kept up.
    func testBenchOverlapsTheAllreduceWithBPTT() throws {
        func reduced(_ flag: String) throws -> Double {
            let result = try run.run(ranks: 2, ["bench", "--hidden", "512", "--seq-len", "64", "--batch-per-rank", "32",
                                                "--warmup", "2", "--timed", "10", flag, "--json"])
            XCTAssertEqual(result.status, 0, result.output)
            let report = try jsonReport(of: result)
            XCTAssertEqual(report["overlap_allreduce"] as? Bool, flag == "--overlap-allreduce")
            return try XCTUnwrap(report["reduced_during_backward"] as? Double)
        }
        XCTAssertGreaterThan(try reduced("--overlap-allreduce"), 0)
        XCTAssertEqual(try reduced("--no-overlap-allreduce"), 0)
    }
}
