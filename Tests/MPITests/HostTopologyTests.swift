@testable import MPI
import XCTest

/// The rings a hop benchmark runs in: which ranks each ring holds, for equal and unequal hosts.
final class HostTopologyTests: XCTestCase {
    func testRingsOfThreeHostsOfFourRanks() {
        let topology = HostTopology(hostKey: [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8])
        XCTAssertEqual(topology.description, "3 hosts × 4 ranks")
        XCTAssertEqual(topology.ring(.allRanks, containing: 5), Array(0..<12))
        XCTAssertEqual(topology.ring(.withinHost, containing: 5), [4, 5, 6, 7])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 5), [1, 5, 9])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 11), [3, 7, 11])
        XCTAssertEqual(topology.ring(.leadersAcrossHosts, containing: 4), [0, 4, 8])
        XCTAssertEqual(topology.ring(.leadersAcrossHosts, containing: 5), [5], "not a host's first rank: idle")
    }

    /// Hosts of 3 and 1 ranks, numbered out of order: a place only some hosts have makes a ring
    /// of the hosts that have it (here of one rank: no hop).
    func testRingsOfUnequalHosts() {
        let topology = HostTopology(hostKey: [7, 2, 7, 7])   // host 0: ranks 0, 2, 3; host 1: rank 1
        XCTAssertEqual(topology.ring(.withinHost, containing: 2), [0, 2, 3])
        XCTAssertEqual(topology.ring(.withinHost, containing: 1), [1])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 0), [0, 1])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 1), [0, 1])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 2), [2])
        XCTAssertEqual(topology.ring(.acrossHosts, containing: 3), [3])
        XCTAssertEqual(topology.ring(.leadersAcrossHosts, containing: 1), [0, 1])
        XCTAssertEqual(topology.ring(.leadersAcrossHosts, containing: 2), [2])
    }
}
