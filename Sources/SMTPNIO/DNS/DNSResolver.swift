/// A mail exchanger from an MX record (RFC 5321 §5.1).
public struct MXRecord: Hashable, Sendable {
    public var preference: Int
    /// The exchanger's host name, without the trailing dot; empty for the root (a null MX).
    public var exchange: String

    public init(preference: Int, exchange: String) {
        self.preference = preference
        self.exchange = exchange
    }
}

/// Why a lookup gave no answer.
public enum DNSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name does not exist (NXDOMAIN): a permanent failure.
    case nameNotFound(String)
    /// SERVFAIL, a timeout, a refusal: try again later.
    case temporary(String)

    public var description: String {
        switch self {
        case .nameNotFound(let name): return "\(name): host or domain name not found (NXDOMAIN)"
        case .temporary(let why): return why
        }
    }
}

/// Looks up what mail routing needs. Answers are not cached here: each delivery attempt asks
/// again, so no answer outlives its TTL and no failure is remembered.
public protocol DNSResolver: Sendable {
    /// The MX records of a domain; empty when the domain exists and has none.
    func mx(_ domain: String) async throws(DNSError) -> [MXRecord]
    /// The IPv6 and IPv4 addresses of a host, IPv6 first; empty when it has none.
    func addresses(_ host: String) async throws(DNSError) -> [String]
}
