import SMTPCore

/// An IPv4 or IPv6 network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`), for relay policy.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let bytes = IPNetwork.parseAddress(String(first)) else { return nil }
        let maxBits = bytes.count * 8
        var prefix = maxBits
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxBits).contains(p) else { return nil }
            prefix = p
        }
        self.address = bytes
        self.prefixLength = prefix
    }

    /// A network from its address octets (4 or 16) and prefix length (at most 8 × the octets).
    public init(address: [UInt8], prefixLength: Int) {
        self.address = address
        self.prefixLength = min(prefixLength, address.count * 8)
    }

    public var description: String {
        let text: String
        if address.count == 4 {
            text = address.map(String.init).joined(separator: ".")
        } else {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return "\(text)/\(prefixLength)"
    }

    /// Whether the address (text form) lies in this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.1`) count as their IPv4 address.
    public func contains(_ addressText: String) -> Bool {
        guard let bytes = IPNetwork.parseAddress(addressText) else { return false }
        return contains(address: bytes)
    }

    /// Whether the address (octets) lies in this network, an IPv4-mapped one counting as IPv4.
    public func contains(address bytes: [UInt8]) -> Bool {
        let bytes = address.count == 4 ? Self.unmapped(bytes) : bytes
        guard bytes.count == address.count else { return false }
        var bits = prefixLength
        for i in 0..<bytes.count where bits > 0 {
            let take = min(8, bits)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if bytes[i] & mask != address[i] & mask { return false }
            bits -= take
        }
        return true
    }

    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as its 4 IPv4 octets; any other as it is.
    public static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return bytes }
        return Array(bytes[12...])
    }

    /// 4 octets for IPv4, 16 for IPv6; nil for anything else.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        if AddressGrammar.isIPv4(text) {
            return text.split(separator: ".").map { UInt8($0)! }
        }
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }  // zone id
        var tail: [UInt8] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            let v4 = String(text[text.index(after: lastColon)...])
            guard AddressGrammar.isIPv4(v4) else { return nil }
            tail = v4.split(separator: ".").map { UInt8($0)! }
            text = text[...lastColon]
            if !text.hasSuffix("::") { text = text.dropLast() }
        }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let left = groups(halves[0]) else { return nil }
        let right = halves.count == 2 ? groups(halves[1]) : []
        guard let right else { return nil }
        let wanted = tail.isEmpty ? 8 : 6
        var all: [UInt16]
        if halves.count == 2 {
            guard left.count + right.count < wanted else { return nil }
            all = left + Array(repeating: 0, count: wanted - left.count - right.count) + right
        } else {
            guard left.count == wanted else { return nil }
            all = left
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + tail
    }
}
