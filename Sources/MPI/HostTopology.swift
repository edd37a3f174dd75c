import CMPI

/// Which ranks share a host: found once with MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) (the
/// ranks that can share memory, as the MPI runtime sees them), then numbered. Hosts are
/// numbered in the order of their lowest rank, and each host's ranks are in rank order (their
/// local index), so every rank derives the same topology from the same facts.
public struct HostTopology: Sendable, Equatable, CustomStringConvertible {
    /// The host (0..<hostCount) of every rank of the communicator.
    public let hostOfRank: [Int]
    /// Each host's ranks, ascending.
    public let ranksOnHost: [[Int]]

    /// Any grouping of ranks into hosts: `hostKey[rank]` is equal for ranks on one host.
    public init(hostKey: [Int]) {
        var order: [Int: Int] = [:]
        var ranksOnHost: [[Int]] = []
        var hostOfRank: [Int] = []
        for (rank, key) in hostKey.enumerated() {
            let host = order[key] ?? {
                order[key] = ranksOnHost.count
                ranksOnHost.append([])
                return ranksOnHost.count - 1
            }()
            ranksOnHost[host].append(rank)
            hostOfRank.append(host)
        }
        self.hostOfRank = hostOfRank
        self.ranksOnHost = ranksOnHost
    }

    /// Every rank on one host.
    public static func single(ranks: Int) -> HostTopology { HostTopology(hostKey: Array(repeating: 0, count: ranks)) }

    public var hostCount: Int { ranksOnHost.count }
    public var rankCount: Int { hostOfRank.count }
    /// Whether some host runs more than one rank.
    public var sharesHosts: Bool { ranksOnHost.contains { $0.count > 1 } }
    /// The most ranks on one host.
    public var largestHost: Int { ranksOnHost.map(\.count).max() ?? 0 }

    /// Where `rank` stands among its host's ranks.
    public func localIndex(of rank: Int) -> Int { ranksOnHost[hostOfRank[rank]].firstIndex(of: rank)! }

    /// The rings a ring hop can run in, every rank at once.
    public enum Ring: String, CaseIterable, Codable, Sendable {
        /// All ranks in rank order (the flat ring allreduce's ring).
        case allRanks = "world_ring"
        /// Each host's ranks in a ring of their own.
        case withinHost = "host_rings"
        /// The ranks with the same place on their host, one ring across the hosts per place (the
        /// two-level allreduce's rings between owners; a host with fewer ranks is left out).
        case acrossHosts = "cross_host_rings"
        /// The first rank of every host in one ring across the hosts, the others idle: one
        /// message per link at a time, as in a tree's levels between hosts.
        case leadersAcrossHosts = "leader_ring"
    }

    /// The ranks of `rank`'s ring of kind `ring`, in ring order.
    public func ring(_ ring: Ring, containing rank: Int) -> [Int] {
        switch ring {
        case .allRanks:
            return Array(0..<rankCount)
        case .withinHost:
            return ranksOnHost[hostOfRank[rank]]
        case .acrossHosts:
            let place = localIndex(of: rank)
            return ranksOnHost.compactMap { $0.count > place ? $0[place] : nil }
        case .leadersAcrossHosts:
            return localIndex(of: rank) == 0 ? ranksOnHost.map { $0[0] } : [rank]
        }
    }

    /// "3 hosts × 4 ranks", "2 hosts (3 + 1 ranks)", "1 host × 12 ranks".
    public var description: String {
        let sizes = ranksOnHost.map(\.count)
        let hosts = "\(hostCount) host\(hostCount == 1 ? "" : "s")"
        if Set(sizes).count <= 1 { return "\(hosts) × \(sizes.first ?? 0) rank\(sizes.first == 1 ? "" : "s")" }
        return "\(hosts) (\(sizes.map(String.init).joined(separator: " + ")) ranks)"
    }

    /// The ranks of `world` grouped by the host they share memory on (a collective).
    public static func discover(_ world: Communicator) throws(MPIError) -> HostTopology {
        let host = try world.splitByHost()
        defer { host.free() }
        // A host's key: its lowest world rank.
        let key = try host.minimum(world.rank)
        return HostTopology(hostKey: try world.allgather(key))
    }
}

extension Communicator {
    /// The ranks that share memory with this one (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)),
    /// ordered by their rank here. Free it with `free()`.
    public func splitByHost() throws(MPIError) -> Communicator {
        var split: MPI_Comm? = cmpi_comm_null()
        try MPIError.check(MPI_Comm_split_type(handle, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &split),
                           "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)")
        guard let split else {
            throw MPIError(operation: "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)", code: -1, message: "no communicator returned")
        }
        try MPIError.check(MPI_Comm_set_errhandler(split, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var (localRank, localSize): (Int32, Int32) = (0, 1)
        try MPIError.check(MPI_Comm_rank(split, &localRank), "MPI_Comm_rank(host)")
        try MPIError.check(MPI_Comm_size(split, &localSize), "MPI_Comm_size(host)")
        return Communicator(handle: split, rank: Int(localRank), size: Int(localSize))
    }

    /// Releases a communicator made by `splitByHost` (never `world`).
    public func free() {
        var handle: MPI_Comm? = self.handle
        _ = MPI_Comm_free(&handle)
    }

    /// The largest message tag this MPI accepts (MPI_TAG_UB: at least 32767, OpenMPI's is 2³¹ − 1).
    public var tagUpperBound: Int {
        var value: UnsafeMutableRawPointer?
        var found: Int32 = 0
        guard MPI_Comm_get_attr(handle, cmpi_tag_ub_key(), &value, &found) == cmpi_success(), found != 0, let value else {
            return 32_767
        }
        return Int(value.load(as: Int32.self))
    }

    /// The smallest `value` over the ranks.
    public func minimum(_ value: Int) throws(MPIError) -> Int {
        var value = value
        try MPIError.check(MPI_Allreduce(cmpi_in_place(), &value, 1, Int.mpiDatatype, ReductionOperation.min.mpiOp, handle),
                           "MPI_Allreduce(1 x Int, min)")
        return value
    }

    /// Every rank's `value`, in rank order.
    public func allgather(_ value: Int) throws(MPIError) -> [Int] {
        var value = value
        var all = [Int](repeating: 0, count: size)
        let code = all.withUnsafeMutableBufferPointer { receive in
            MPI_Allgather(&value, 1, Int.mpiDatatype, receive.baseAddress, 1, Int.mpiDatatype, handle)
        }
        try MPIError.check(code, "MPI_Allgather(1 x Int)")
        return all
    }
}
