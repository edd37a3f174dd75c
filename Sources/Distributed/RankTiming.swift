import Foundation
import MPI

/// Where the time of one logging interval went on each rank, gathered on rank 0, so that a
/// straggler is visible: the slowest rank by compute time and the imbalance (max / mean of
/// compute). A slow rank computes longest and waits least in the allreduce; the others wait
/// for it there.
public struct RankTiming: Equatable, Sendable {
    /// Seconds in forward/backward/optimizer over the interval, indexed by rank.
    public let computeSeconds: [Double]
    /// Seconds waiting in the gradient allreduce over the interval, indexed by rank.
    public let allreduceSeconds: [Double]
    /// The rank with the largest compute time (the lowest such rank on a tie).
    public let slowestRank: Int
    public let maxComputeSeconds: Double
    public let meanComputeSeconds: Double
    /// max / mean of the compute times: 1 is perfect balance, 1.5 means the slowest rank
    /// computes 50% longer than the average. 1 when nothing was timed.
    public let imbalance: Double
    public let minAllreduceSeconds: Double
    public let maxAllreduceSeconds: Double

    /// Ranks beyond this many are not given per-rank TensorBoard scalars (the summary still
    /// covers them, and `metrics` lists every rank).
    public static let perRankScalarLimit = 64

    /// Collective: every rank calls it once per log step with its own times over the interval;
    /// ONE MPI_Gather of two doubles per rank to rank 0. Rank 0 gets the summary, others nil.
    public static func gather(_ communicator: Communicator, computeSeconds: Double,
                              allreduceSeconds: Double) throws -> RankTiming? {
        guard let all = try communicator.gather([computeSeconds, allreduceSeconds], root: 0) else { return nil }
        return summarize(computeSeconds: stride(from: 0, to: all.count, by: 2).map { all[$0] },
                         allreduceSeconds: stride(from: 1, to: all.count, by: 2).map { all[$0] })
    }

    /// The arithmetic of `gather`, on arrays indexed by rank (no MPI).
    public static func summarize(computeSeconds: [Double], allreduceSeconds: [Double]) -> RankTiming {
        precondition(!computeSeconds.isEmpty && computeSeconds.count == allreduceSeconds.count,
                     "one compute and one allreduce time per rank (\(computeSeconds.count) and \(allreduceSeconds.count))")
        var slowest = 0
        for rank in computeSeconds.indices where computeSeconds[rank] > computeSeconds[slowest] { slowest = rank }
        let maxCompute = computeSeconds[slowest]
        let mean = computeSeconds.reduce(0, +) / Double(computeSeconds.count)
        let imbalance = mean > 0 ? maxCompute / mean : 1
        return RankTiming(computeSeconds: computeSeconds, allreduceSeconds: allreduceSeconds, slowestRank: slowest,
                          maxComputeSeconds: maxCompute, meanComputeSeconds: mean, imbalance: imbalance,
                          minAllreduceSeconds: allreduceSeconds.min()!, maxAllreduceSeconds: allreduceSeconds.max()!)
    }

    /// One line for the log, e.g.
    /// `ranks: slowest 3 (compute 1.20 s, mean 0.85 s, imbalance 1.41); allreduce wait 0.02–0.41 s`.
    public var description: String {
        "ranks: slowest \(slowestRank) (compute \(Self.seconds(maxComputeSeconds)), mean \(Self.seconds(meanComputeSeconds)), "
            + "imbalance \(String(format: "%.2f", imbalance))); allreduce wait "
            + (computeSeconds.count == 1 ? Self.seconds(maxAllreduceSeconds)
                : "\(Self.seconds(minAllreduceSeconds))–\(Self.seconds(maxAllreduceSeconds))")
    }

    /// Keys to add to the metrics JSON record: scalars plus the per-rank arrays
    /// (`rank_compute_s`, `rank_allreduce_s`, indexed by rank).
    public var metrics: [String: Any] {
        var record: [String: Any] = scalarMetrics
        record["rank_compute_s"] = computeSeconds
        record["rank_allreduce_s"] = allreduceSeconds
        return record
    }

    /// The summary as numbers (what TensorBoardLogger.log takes): `slowest_rank`, `imbalance`,
    /// `slowest_compute_s`, `mean_compute_s`, `max_allreduce_s`, `min_allreduce_s`.
    public var scalarMetrics: [String: Double] {
        ["slowest_rank": Double(slowestRank), "imbalance": imbalance, "slowest_compute_s": maxComputeSeconds,
         "mean_compute_s": meanComputeSeconds, "max_allreduce_s": maxAllreduceSeconds,
         "min_allreduce_s": minAllreduceSeconds]
    }

    /// scalarMetrics plus `rank_<r>_compute_s` and `rank_<r>_allreduce_s` per rank (up to
    /// `perRankScalarLimit` ranks), for TensorBoard.
    public var tensorBoardMetrics: [String: Double] {
        var record = scalarMetrics
        if computeSeconds.count <= Self.perRankScalarLimit {
            for rank in computeSeconds.indices {
                record["rank_\(rank)_compute_s"] = computeSeconds[rank]
                record["rank_\(rank)_allreduce_s"] = allreduceSeconds[rank]
            }
        }
        return record
    }

    package static func seconds(_ value: Double) -> String {
        value.isFinite ? String(format: value < 10 ? "%.3f s" : "%.1f s", value) : String(value)
    }
}
