#if canImport(Glibc)
import Glibc
#endif
import MailCore

/// The addresses and ports this server takes mail on, so that the relay never takes itself for
/// a destination's exchanger (a loop: RFC 5321 §5.1). A listener on a wildcard address (`0.0.0.0`,
/// `::`) stands for every address of every interface (getifaddrs(3), read when asked: interfaces
/// come and go).
struct LocalAddresses {
    /// (address octets, port) of each listener.
    private var listeners: Set<[UInt8]> = []

    static func listening(_ listeners: [HostAndPort]) -> LocalAddresses {
        var result = LocalAddresses()
        var interfaces: [[UInt8]]?
        for listen in listeners {
            guard let bytes = IPNetwork.parseAddress(listen.host) else { continue }
            if bytes.allSatisfy({ $0 == 0 }) {
                if interfaces == nil { interfaces = interfaceAddresses() }
                for address in interfaces! { result.listeners.insert(key(address, listen.port)) }
            } else {
                result.listeners.insert(key(bytes, listen.port))
            }
        }
        return result
    }

    func contains(address: String, port: Int) -> Bool {
        guard let bytes = IPNetwork.parseAddress(address) else { return false }
        return listeners.contains(Self.key(bytes, port))
    }

    /// An IPv4-mapped IPv6 address counts as its IPv4 address.
    private static func key(_ address: [UInt8], _ port: Int) -> [UInt8] {
        IPNetwork.unmapped(address) + [UInt8(port >> 8 & 0xFF), UInt8(port & 0xFF)]
    }

    /// Every IPv4 and IPv6 address of this machine's interfaces.
    static func interfaceAddresses() -> [[UInt8]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [[UInt8]] = []
        var current: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = current {
            if let sa = entry.pointee.ifa_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        result.append(withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) })
                    }
                case AF_INET6:
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                        result.append(withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) })
                    }
                default: break
                }
            }
            current = entry.pointee.ifa_next
        }
        return result
    }
}
