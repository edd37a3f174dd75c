import MPI
import RunErrors

/// Makes every rank agree on whether a step that can fail locally (reading a corpus, an init
/// file, a checkpoint, writing a checkpoint) succeeded everywhere, so that no rank runs ahead
/// into a collective that the others will never join. The lowest failing rank's message
/// reaches rank 0, which reports it; the others exit with the same code, silently.
public enum RankAgreement {
    /// The same, on a bare communicator (for subcommands that do not train).
    public static func agree(_ world: Communicator, _ body: () throws -> Void) throws {
        let collectives = Collectives(world: world, watchdog: CollectiveWatchdog(world: world, timeoutSeconds: 0),
                                      checkFingerprints: false)
        try agree(collectives, "agreement", body)
    }

    package static func agree(_ collectives: Collectives, _ label: String, step: Int = 0, _ body: () throws -> Void) throws {
        var localError: RunError?
        do { try body() } catch { localError = RunError.from(error) }
        let world = collectives.world
        guard world.size > 1 else {
            if let localError { throw localError }
            return
        }
        let firstFailingRank = try collectives.allreduce(localError == nil ? world.size : world.rank, op: .min,
                                                         label: label, step: step)
        guard firstFailingRank < world.size else { return }
        let code = try collectives.allreduce(Int(localError?.exitCode ?? 0), op: .max, label: label, step: step)
        let message = try world.broadcast(string: localError.map { String(describing: $0) } ?? "", root: firstFailingRank)
        if world.isRoot {
            let origin = firstFailingRank == 0 ? "" : " (on rank \(firstFailingRank))"
            switch code {
            case 2: throw RunError.fault(message + origin)
            case 3: throw RunError.preempted(message + origin)
            default: throw RunError.badInput(message + origin)
            }
        }
        throw RunError.peerFailed(code: Int32(code))
    }
}
