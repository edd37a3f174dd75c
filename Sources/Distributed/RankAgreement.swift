import MPI
import RunErrors

/// Makes every rank agree on whether a step that can fail locally (reading a corpus, an init
/// file, a checkpoint, writing a checkpoint) succeeded everywhere, so that no rank runs ahead
/// into a collective that the others will never join. The lowest failing rank's message
/// reaches rank 0, which throws it; the others throw `RunError.peerFailed` of the same kind.
public enum RankAgreement {
    /// The same, on a bare communicator (for subcommands that do not train).
    public static func agree<Value>(_ world: Communicator, _ body: () throws -> Value) throws -> Value {
        let collectives = Collectives(world: world, watchdog: CollectiveWatchdog(world: world, timeoutSeconds: 0),
                                      checkFingerprints: false)
        return try agree(collectives, "agreement", body)
    }

    /// Runs `body` on this rank and returns its value once every rank's `body` succeeded.
    package static func agree<Value>(_ collectives: Collectives, _ label: String, step: Int = 0,
                                     _ body: () throws -> Value) throws -> Value {
        let outcome = Result { try body() }.mapError(RunError.from)
        let world = collectives.world
        guard world.size > 1 else { return try outcome.get() }
        let localError: RunError? = if case .failure(let error) = outcome { error } else { nil }
        let firstFailingRank = try collectives.allreduce(localError == nil ? world.size : world.rank, op: .min,
                                                         label: label, step: step)
        guard firstFailingRank < world.size else { return try outcome.get() }
        let kindValue = try collectives.allreduce(localError?.kind.rawValue ?? 0, op: .max, label: label, step: step)
        let kind = RunError.Kind(rawValue: kindValue) ?? .badInput
        let message = try world.broadcast(string: localError.map { String(describing: $0) } ?? "", root: firstFailingRank)
        guard world.isRoot else { throw RunError.peerFailed(kind) }
        let origin = firstFailingRank == 0 ? "" : " (on rank \(firstFailingRank))"
        throw RunError(kind, message + origin)
    }
}
