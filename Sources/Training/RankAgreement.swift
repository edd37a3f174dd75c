import MPI

/// Makes every rank agree on whether a step that can fail locally (reading a corpus, an init
/// file, a checkpoint) succeeded everywhere, so that no rank runs ahead into a collective
/// that the others will never join. The lowest failing rank's message reaches rank 0.
enum RankAgreement {
    static func agree(_ world: Communicator, _ body: () throws -> Void) throws {
        var localError: RunError?
        do { try body() } catch { localError = RunError.from(error) }
        let firstFailingRank = try world.allreduce(localError == nil ? world.size : world.rank, op: .min)
        guard firstFailingRank < world.size else { return }
        let code = try world.allreduce(Int(localError?.exitCode ?? 0), op: .max)
        let message = try world.broadcast(string: localError.map { String(describing: $0) } ?? "", root: firstFailingRank)
        if world.isRoot {
            let origin = firstFailingRank == 0 || world.size == 1 ? "" : " (on rank \(firstFailingRank))"
            throw code == 2 ? RunError.fault(message + origin) : RunError.badInput(message + origin)
        }
        throw RunError.peerFailed(code: Int32(code))
    }
}
