/// The address grammar of RFC 5321 §4.1.2 and §4.1.3, extended for UTF-8 by RFC 6531 §3.3.
/// Written by hand: no library parses SMTP paths, and the rules here decide what we accept on the
/// open internet.
public enum AddressGrammar {
    /// `atext` of RFC 5322 §3.2.3 plus, for SMTPUTF8, any octet of a UTF-8 sequence.
    @inlinable
    public static func isAtext(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return b >= 0x80
        }
    }

    /// Characters no address needs and that mislead whoever reads one: C0 and C1 controls, the
    /// line and paragraph separators (U+2028, U+2029), and the bidirectional overrides, embeddings
    /// and isolates (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F), which can make `moc.elpmaxe`
    /// display as `example.com`. Joiners (U+200C, U+200D) stay: some scripts need them.
    public static func isMisleading(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F: return true
        default: return false
        }
    }

    static func isLetDig(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return b >= 0x80  // U-labels (RFC 6531 §3.3)
        }
    }

    /// `Dot-string = Atom *("." Atom)`.
    public static func isDotString(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: ".") else { return false }
        var previousDot = false
        for b in bytes {
            if b == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
            } else {
                guard isAtext(b) else { return false }
                previousDot = false
            }
        }
        return true
    }

    /// `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]`.
    public static func isDomain(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        for label in bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let first = label.first, let last = label.last, isLetDig(first), isLetDig(last) else { return false }
            guard label.allSatisfy({ isLetDig($0) || $0 == UInt8(ascii: "-") }) else { return false }
            guard label.count <= 63 || label.contains(where: { $0 >= 0x80 }) else { return false }
        }
        return true
    }

    /// The inside of an address literal, without brackets: IPv4, `IPv6:…`, or a general literal
    /// `tag:content` (RFC 5321 §4.1.3).
    public static func isAddressLiteralBody(_ bytes: ArraySlice<UInt8>) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        if isIPv4(text) { return true }
        if text.lowercased().hasPrefix("ipv6:") { return isIPv6(String(text.dropFirst(5))) }
        // General-address-literal = Standardized-tag ":" 1*dcontent
        guard let colon = text.firstIndex(of: ":") else { return false }
        let tag = text[..<colon].utf8
        let content = text[text.index(after: colon)...].utf8
        guard let last = tag.last, isLetDig(last), tag.allSatisfy({ isLetDig($0) || $0 == UInt8(ascii: "-") }),
            !content.isEmpty, content.allSatisfy({ (33...90).contains($0) || (94...126).contains($0) })
        else { return false }
        return true
    }

    public static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && Int(p)! <= 255
        }
    }

    public static func isIPv6(_ text: String) -> Bool {
        var text = Substring(text)
        var groupsAllowed = 8
        // An IPv4 tail counts as two groups.
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard isIPv4(String(text[text.index(after: lastColon)...])) else { return false }
            text = text[...lastColon]
            if !text.hasSuffix("::") { text = text.dropLast() }
            groupsAllowed = 6
        }
        let hex = { (g: Substring) -> Bool in
            (1...4).contains(g.count) && g.allSatisfy { $0.isHexDigit && $0.isASCII }
        }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        switch halves.count {
        case 1:
            let groups = text.split(separator: ":", omittingEmptySubsequences: false)
            return groups.count == groupsAllowed && groups.allSatisfy(hex)
        case 2:
            let left = halves[0].isEmpty ? [] : halves[0].split(separator: ":", omittingEmptySubsequences: false)
            let right = halves[1].isEmpty ? [] : halves[1].split(separator: ":", omittingEmptySubsequences: false)
            return left.allSatisfy(hex) && right.allSatisfy(hex) && left.count + right.count < groupsAllowed
        default:
            return false
        }
    }
}
