@testable import MPI
import TestSupport
import XCTest

/// The MPI wrapper on real ranks: mpi-selftest runs every collective and reports per rank.
final class CommunicatorTests: XCTestCase {
    private func runSelftest(ranks: Int) throws {
        continueAfterFailure = false
        let result = try MPIRun.run(ranks: ranks, binary: MPIRun.binary("mpi-selftest"), [], timeout: 120)
        XCTAssertFalse(result.timedOut, "mpi-selftest -np \(ranks) hung:\n\(result.output)")
        XCTAssertEqual(result.status, 0, "mpi-selftest -np \(ranks) failed:\n\(result.output)")
        let failures = MPIRun.lines(result.stdout, startingWith: "rank").filter { $0.contains("FAILED") }
        XCTAssertEqual(failures, [], "checks failed with \(ranks) ranks")
        for rank in 0..<ranks {
            XCTAssertTrue(result.stdout.contains("rank \(rank) of \(ranks)"), "rank \(rank) did not report:\n\(result.output)")
            XCTAssertTrue(result.stdout.contains("rank \(rank) summary ok"), "rank \(rank) summary missing")
            for check in ["allreduce-sum-float", "allreduce-max-double", "allreduce-min-int", "allreduce-range",
                          "broadcast-nonzero-root", "broadcast-string", "iallreduce-overlap", "allreduce-split",
                          "iallreduce-split", "broadcast-split", "ring-allreduce", "ring-allreduce-order-float",
                          "ring-allreduce-order-double", "two-level-order-float", "two-level-order-double", "two-level-order-float-leaders",
                          "two-level-order-double-leaders", "host-topology",
                          "ring-traffic", "library-allreduce", "scalar-allreduce", "ring-peer-idle", "hosts", "gather", "mpi-error-surfaces", "wall-time"] {
                XCTAssertTrue(result.stdout.contains("rank \(rank) check \(check) ok"), "rank \(rank) \(check) missing")
            }
            // Every rank but the last (which joins late) waits on it without holding a core.
            if rank < ranks - 1 {
                XCTAssertTrue(result.stdout.contains("rank \(rank) check ring-wait-yields-core ok"), "rank \(rank) ring-wait-yields-core missing")
            }
        }
        let errorText = MPIRun.lines(result.stdout, startingWith: "rank 0 error-text").first ?? ""
        XCTAssertTrue(errorText.contains("MPI_ERR_ROOT"), "MPI's own error string expected, got: \(errorText)")
    }

    func testCollectivesOnOneRank() throws { try runSelftest(ranks: 1) }
    func testCollectivesOnTwoRanks() throws { try runSelftest(ranks: 2) }
    /// Three ranks: uneven chunks, and the first rank count at which the ring's summation
    /// order differs from any other (a + b == b + a, so two ranks cannot tell).
    func testCollectivesOnThreeRanks() throws { try runSelftest(ranks: 3) }
    func testCollectivesOnFourRanks() throws { try runSelftest(ranks: 4) }
    /// Six ranks: the two-level allreduce on three hosts of two, and on hosts of 4 + 1 + 1.
    func testCollectivesOnSixRanks() throws { try runSelftest(ranks: 6) }

    /// Without mpirun the binary is a singleton of size 1.
    func testSingletonWithoutMpirun() throws {
        let result = try ProcessRunner.run(MPIRun.binary("mpi-selftest"), [], timeout: 60)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("rank 0 of 1"), result.output)
    }

    /// The Int32 splitting boundaries, in process (without initializing MPI here: a
    /// singleton MPI_Init in the test process would leak its environment into mpirun).
    func testChunkBoundaries() {
        XCTAssertEqual(Communicator.chunks(count: 0, limit: 4), [])
        XCTAssertEqual(Communicator.chunks(count: 4, limit: 4), [0..<4])
        XCTAssertEqual(Communicator.chunks(count: 9, limit: 4), [0..<4, 4..<8, 8..<9])
        let limit = Int(Int32.max)
        XCTAssertEqual(Communicator.chunks(count: limit + 5, limit: limit), [0..<limit, limit..<(limit + 5)])
    }
}
