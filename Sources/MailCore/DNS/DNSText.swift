/// The data of a TXT record (RFC 1035 §3.3.14): character-strings, each a length octet and that
/// many octets. SPF, DKIM and DMARC read a record as its strings joined (RFC 7208 §3.3, RFC 6376
/// §3.6.2.2, RFC 7489 §6.4). Written by hand: libresolv parses the message, not TXT data.
public enum DNSText {
    /// The strings joined; nil when a length runs past the end of the data.
    public static func joinedStrings(_ data: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var i = 0
        while i < data.count {
            let n = Int(data[i])
            guard i + 1 + n <= data.count else { return nil }
            out += data[(i + 1)..<(i + 1 + n)]
            i += 1 + n
        }
        return out
    }
}
