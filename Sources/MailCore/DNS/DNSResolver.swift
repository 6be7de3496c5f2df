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

/// The record types Postie asks for.
public enum DNSRecordType: Int32, Hashable, Sendable, CustomStringConvertible {
    case a = 1
    case ptr = 12
    case mx = 15
    case txt = 16
    case aaaa = 28

    public var description: String {
        switch self {
        case .a: return "A"
        case .ptr: return "PTR"
        case .mx: return "MX"
        case .txt: return "TXT"
        case .aaaa: return "AAAA"
        }
    }
}

/// Looks up what mail routing and mail authentication need. Every answer is empty when the name
/// exists without records of the type (NODATA); `nameNotFound` when it does not exist.
/// Implementations bound each lookup in time and may cache answers for no longer than their TTL.
public protocol DNSResolver: Sendable {
    /// The MX records of a domain.
    func mx(_ domain: String) async throws(DNSError) -> [MXRecord]
    /// The IPv4 addresses of a host (A records), 4 octets each.
    func ipv4(_ host: String) async throws(DNSError) -> [[UInt8]]
    /// The IPv6 addresses of a host (AAAA records), 16 octets each.
    func ipv6(_ host: String) async throws(DNSError) -> [[UInt8]]
    /// The TXT records at a name, each record's character-strings joined (RFC 7208 §3.3, RFC 6376
    /// §3.6.2.2 and RFC 7489 §6.4 read them so).
    func txt(_ name: String) async throws(DNSError) -> [[UInt8]]
    /// The names an address points back to (PTR records under in-addr.arpa or ip6.arpa).
    func ptr(_ address: [UInt8]) async throws(DNSError) -> [String]
}

extension DNSResolver {
    /// The IPv6 and IPv4 addresses of a host in text form, IPv6 first; empty when it has none.
    /// Fails only when neither family answered, or the name does not exist.
    public func addresses(_ host: String) async throws(DNSError) -> [String] {
        var result: [String] = []
        var failure: DNSError?
        do {
            result += try await ipv6(host).map(IPAddressText.format)
        } catch {
            if case .nameNotFound = error { throw error }
            failure = error
        }
        do {
            result += try await ipv4(host).map(IPAddressText.format)
        } catch {
            if case .nameNotFound = error { throw error }
            failure = error
        }
        if result.isEmpty, let failure { throw failure }
        return result
    }
}

/// Text forms of addresses and their reverse-lookup names.
public enum IPAddressText {
    /// Dotted quad for 4 octets; RFC 5952 form (lower case, longest zero run as `::`) for 16.
    public static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return "" }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // The longest run of two or more zero groups, the first of equals, becomes "::".
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8, groups[j] == 0 { j += 1 }
            if j - i > best.length, j - i >= 2 { best = (i, j - i) }
            i = j
        }
        func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        if best.start < 0 { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }

    /// The name a PTR lookup asks for: `4.3.2.1.in-addr.arpa`, or nibbles under `ip6.arpa`.
    public static func reverseName(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa" }
        let nibbles = bytes.reversed().flatMap { [String($0 & 0xF, radix: 16), String($0 >> 4, radix: 16)] }
        return nibbles.joined(separator: ".") + ".ip6.arpa"
    }
}
