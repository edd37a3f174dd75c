import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// Where a rank runs: its host's name (MPI_Get_processor_name) and the first IPv4 address of
/// an interface that is up and not loopback. Faults across hosts are reported with these, so
/// that "rank 2" becomes "rank 2 on host h3 (198.18.0.3)".
public struct RankHost: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let address: String?

    public init(name: String, address: String?) {
        self.name = name
        self.address = address
    }

    public var description: String { address.map { "\(name) (\($0))" } ?? name }

    /// This process's host.
    public static func local() -> RankHost {
        _ = MPIRuntime.initialized
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        let name = MPI_Get_processor_name(&buffer, &length) == cmpi_success()
            ? String(decoding: buffer[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown"
        return RankHost(name: name, address: firstExternalIPv4())
    }

    private static func firstExternalIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let flags = Int32(entry.pointee.ifa_flags)
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ipv4 in
                withUnsafePointer(to: ipv4.pointee.sin_addr) { inet_ntop(AF_INET, $0, &text, socklen_t(text.count)) != nil }
            }
            if ok { return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return nil
    }
}

extension Communicator {
    /// Every rank's host, in rank order (a collective: all ranks call it once).
    public func hosts() throws -> [RankHost] {
        let local = RankHost.local()
        let fields = [local.name, local.address ?? ""]
        let fieldBytes = 256
        var record = [UInt8](repeating: 0, count: fields.count * fieldBytes)
        for (index, field) in fields.enumerated() {
            for (offset, byte) in field.utf8.prefix(fieldBytes - 1).enumerated() { record[index * fieldBytes + offset] = byte }
        }
        var all = [UInt8](repeating: 0, count: record.count * size)
        try record.withUnsafeBufferPointer { send in
            try all.withUnsafeMutableBufferPointer { receive in
                try MPIError.check(
                    MPI_Allgather(send.baseAddress, Int32(record.count), cmpi_uint8(),
                                  receive.baseAddress, Int32(record.count), cmpi_uint8(), handle),
                    "MPI_Allgather(host names)")
            }
        }
        return (0..<size).map { rank in
            let text = (0..<fields.count).map { index -> String in
                let start = rank * record.count + index * fieldBytes
                return String(decoding: all[start..<start + fieldBytes].prefix { $0 != 0 }, as: UTF8.self)
            }
            return RankHost(name: text[0], address: text[1].isEmpty ? nil : text[1])
        }
    }
}
