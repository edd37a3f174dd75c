import Foundation
import TensorBoard
import RunErrors

/// Rank 0's TensorBoard output (`--tensorboard DIR`): one event file in DIR, one Event per
/// logged step holding the metrics record's values under readable tags.
///
///     loss → train/loss and train/bits_per_token     val_loss → val/loss and val/bits_per_token
///     grad_norm → train/grad_norm (before clipping)  clipped → train/clip_rate    lr → train/lr
///     epoch, tokens, skipped_steps → train/…         tokens_per_s, compute_s, allreduce_s → perf/…
///     RankTiming: slowest_rank, imbalance, slowest_compute_s, mean_compute_s, min/max_allreduce_s → perf/…,
///                 rank_<r>_compute_s → perf/rank_<r>/compute_s (and allreduce_s)
///     diag_survival/<layerL_h|c>/k<k> (--diagnose-every) → diag/survival/<layerL_h|c>/k<k>
///     spectral_radius_w_hh → diag/spectral_radius_w_hh
///     anything else → other/<key>;  `step` is the Event's step, not a scalar.
public final class TensorBoardLogger {
    private let writer: EventFileWriter

    /// The event file being written.
    public var path: String { writer.path }

    /// Creates DIR if needed and starts an event file there. A directory that cannot be
    /// created is bad input (exit 1).
    public init(directory: String) throws {
        do {
            writer = try EventFileWriter(directory: directory)
        } catch {
            throw RunError.badInput(String(describing: error))
        }
    }

    /// Writes the record's values at `step` and flushes, so `tensorboard` sees them at once.
    /// NaN and ±∞ are written as they are (TensorBoard shows them). A write failure is a fault.
    public func log(_ record: [String: Double], step: Int, wallTime: Double? = nil) throws {
        let scalars = Self.scalars(for: record)
        do {
            try writer.add(scalars: scalars, step: step, wallTime: wallTime)
            try writer.flush()
        } catch {
            throw RunError.fault(String(describing: error))
        }
    }

    public func close() throws {
        do { try writer.close() } catch { throw RunError.fault(String(describing: error)) }
    }

    /// The (tag, value) pairs written for a metrics record, sorted by tag.
    public static func scalars(for record: [String: Double]) -> [(tag: String, value: Double)] {
        var out: [(tag: String, value: Double)] = []
        for (key, value) in record where key != "step" {
            out.append((tag(for: key), value))
            if key == "loss" { out.append(("train/bits_per_token", value / Foundation.log(2.0))) }
            if key == "val_loss" { out.append(("val/bits_per_token", value / Foundation.log(2.0))) }
        }
        return out.sorted { $0.tag < $1.tag }
    }

    package static let tags: [String: String] = [
        "loss": "train/loss", "grad_norm": "train/grad_norm", "clipped": "train/clip_rate", "lr": "train/lr",
        "epoch": "train/epoch", "tokens": "train/tokens", "skipped_steps": "train/skipped_steps",
        "tokens_per_s": "perf/tokens_per_s", "compute_s": "perf/compute_s", "allreduce_s": "perf/allreduce_s",
        "slowest_rank": "perf/slowest_rank", "imbalance": "perf/imbalance",
        "slowest_compute_s": "perf/slowest_compute_s", "mean_compute_s": "perf/mean_compute_s",
        "max_allreduce_s": "perf/max_allreduce_s", "min_allreduce_s": "perf/min_allreduce_s",
        "val_loss": "val/loss", "spectral_radius_w_hh": "diag/spectral_radius_w_hh",
    ]

    /// The TensorBoard tag of a metrics key.
    public static func tag(for key: String) -> String {
        if let tag = tags[key] { return tag }
        if key.hasPrefix("diag_") { return "diag/" + key.dropFirst(5) }
        // rank_<r>_compute_s → perf/rank_<r>/compute_s
        if key.hasPrefix("rank_"), let underscore = key.dropFirst(5).firstIndex(of: "_"),
           Int(key[key.index(key.startIndex, offsetBy: 5)..<underscore]) != nil {
            return "perf/" + key[..<underscore] + "/" + key[key.index(after: underscore)...]
        }
        return "other/" + key
    }
}
