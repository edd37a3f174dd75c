import Buffers

/// How the two-level allreduce's cross-host stage runs. Both give the same bits
/// (HostLeaderAllreduce), so the choice is made by timing and never changes a run's numbers.
public enum CrossHostStage: String, Sendable, CaseIterable, Codable {
    /// One ring per local rank, each carrying a C-th of the piece (TwoLevelAllreduce): the
    /// shared-memory stages move 1/L of the piece per rank, L messages cross a link per hop.
    case ringPerLocalRank = "rings"
    /// One ring of the hosts' first ranks carrying the whole piece (HostLeaderAllreduce): one
    /// message crosses a link per hop, the shared-memory stages move whole pieces to one rank.
    case hostLeaders = "leaders"
}

/// The two-level allreduce's cross-host stage for this run, and what decided it.
public struct CrossHostChoice: Sendable, Equatable, CustomStringConvertible {
    public let stage: CrossHostStage
    /// Median seconds of one allreduce of the whole gradient (slowest rank), when both were timed.
    public let secondsRings: Double?, secondsLeaders: Double?
    /// Why nothing was timed, when nothing was.
    public let untimedReason: String?

    public init(stage: CrossHostStage, secondsRings: Double?, secondsLeaders: Double?, untimedReason: String?) {
        (self.stage, self.secondsRings, self.secondsLeaders, self.untimedReason) = (stage, secondsRings, secondsLeaders, untimedReason)
    }

    /// "leaders (0.41 ms, rings 0.98 ms)" or "rings (one rank per host)".
    public var description: String {
        if let rings = secondsRings, let leaders = secondsLeaders {
            let (mine, other) = stage == .hostLeaders ? (leaders, rings) : (rings, leaders)
            let otherName = stage == .hostLeaders ? CrossHostStage.ringPerLocalRank.rawValue : CrossHostStage.hostLeaders.rawValue
            return "\(stage.rawValue) (\(Self.milliseconds(mine)), \(otherName) \(Self.milliseconds(other)))"
        }
        return "\(stage.rawValue) (\(untimedReason ?? "not timed"))"
    }

    private static func milliseconds(_ seconds: Double) -> String {
        let ms = seconds * 1000
        return ms < 10 ? "\((ms * 100).rounded() / 100) ms" : "\((ms * 10).rounded() / 10) ms"
    }

    /// The leader gathers (L−1) copies of the gradient: beyond this it is not considered (a
    /// gradient that large is bandwidth-bound, where moving L−1 copies to one rank loses anyway).
    public static let leaderScratchLimitBytes = 256 << 20

    /// Times both stages on a zero buffer of `count` (one piece, after BPTT), interleaved, up
    /// to `rounds` rounds or about `budgetSeconds`, every rank at once; each stage's time is
    /// the median over rounds of the slowest rank's. Every rank computes the choice from the
    /// same allreduced times, so all make it alike. Collective: every rank must call it.
    /// Returns the choice and the chosen allreduce (the timed instance, ready for the run).
    /// `finish` completes a started round (the trainer's runs under its watchdog), `align`
    /// lines the ranks up and `slowest` takes each time's maximum over the ranks (the same).
    public static func measure(count: Int, world: Communicator, topology: HostTopology, maxPieces: Int = 64,
                               rounds: Int = 5, budgetSeconds: Double = 1.0,
                               finish: (any PiecewiseAllreduce) throws -> Void = { try $0.finish(whileWaiting: { false }) },
                               align: (Communicator) throws -> Void = { try $0.barrier() },
                               slowest: (inout [Double]) throws -> Void) throws
        -> (choice: CrossHostChoice, allreduce: any PiecewiseAllreduce) {
        let rings = TwoLevelAllreduce<Float>(count: count, communicator: world, topology: topology, maxPieces: maxPieces)
        func untimed(_ reason: String) -> (CrossHostChoice, any PiecewiseAllreduce) {
            (CrossHostChoice(stage: .ringPerLocalRank, secondsRings: nil, secondsLeaders: nil, untimedReason: reason), rings)
        }
        if world.size == 1 { return untimed("one rank") }
        if !topology.sharesHosts { return untimed("one rank per host: the two are one ring") }
        let leaderBytes = (topology.largestHost - 1) * count * MemoryLayout<Float>.stride
        if leaderBytes > leaderScratchLimitBytes { return untimed("a leader would gather \(leaderBytes >> 20) MiB") }
        let leaders = HostLeaderAllreduce<Float>(count: count, communicator: world, topology: topology, maxPieces: maxPieces)
        let buffer = Buffer<Float>(count: count, repeating: 0)
        var timesRings: [Double] = [], timesLeaders: [Double] = []
        var spent = 0.0
        for _ in 0..<max(1, rounds) {
            var times = [0.0, 0.0]
            for (k, allreduce) in [rings as any PiecewiseAllreduce, leaders].enumerated() {
                try align(world)
                let start = Communicator.wallTime()
                try allreduce.begin(round: buffer, pieces: [0..<count])
                allreduce.readyAll()
                try finish(allreduce)
                times[k] = Communicator.wallTime() - start
            }
            try slowest(&times)
            timesRings.append(times[0])
            timesLeaders.append(times[1])
            spent += times[0] + times[1]
            if spent > budgetSeconds { break }
        }
        let choice = choose(rings: timesRings, leaders: timesLeaders)
        switch choice.stage {
        case .ringPerLocalRank: return (choice, rings)
        case .hostLeaders: return (choice, leaders)
        }
    }

    /// The faster by the medians of the rounds' times; a tie keeps rings (less copying within a host).
    static func choose(rings: [Double], leaders: [Double]) -> CrossHostChoice {
        let (r, l) = (median(rings), median(leaders))
        return CrossHostChoice(stage: l < r ? .hostLeaders : .ringPerLocalRank, secondsRings: r, secondsLeaders: l, untimedReason: nil)
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
