/// The `Authentication-Results:` field (RFC 8601) that says what we found of a message: SPF,
/// each DKIM signature, DMARC, ARC. Its resinfo list is also what an ARC seal records (RFC 8617
/// §4.1.1). A value with no I/O.
public struct AuthenticationResults: Sendable, Equatable {
    /// Our host name: whose verdict this is.
    public var authservID: String
    public var spf: SPFOutcome?
    /// One result per signature; empty for an unsigned message (`dkim=none`).
    public var dkim: [DKIMResult]
    public var dmarc: DMARCOutcome?
    public var arc: ARCOutcome?

    public init(authservID: String, spf: SPFOutcome? = nil, dkim: [DKIMResult] = [], dmarc: DMARCOutcome? = nil, arc: ARCOutcome? = nil) {
        self.authservID = authservID
        self.spf = spf
        self.dkim = dkim
        self.dmarc = dmarc
        self.arc = arc
    }

    /// Each method's result with its properties (`spf=pass smtp.mailfrom=example.com`), in the
    /// order SPF, DKIM, DMARC, ARC.
    public var resinfos: [String] {
        var out: [String] = []
        if let spf {
            var text = "spf=\(spf.result.rawValue)"
            if spf.result != .pass, spf.result != .none, let reason = spf.reason { text += " " + Self.comment(reason) }
            text += spf.identity == .helo ? " smtp.helo=" : " smtp.mailfrom="
            text += Self.value(spf.domain)
            out.append(text)
        }
        if dkim.isEmpty {
            out.append("dkim=none")
        }
        for d in dkim {
            var text = "dkim=\(d.verdict.rawValue)"
            if d.verdict != .pass, let reason = d.reason { text += " reason=" + Self.quoted(reason) }
            if d.testing { text += " (testing)" }
            if let l = d.bodyLength { text += " (l=\(l) of the body signed)" }
            if let domain = d.domain { text += " header.d=" + Self.value(domain) }
            if let selector = d.selector { text += " header.s=" + Self.value(selector) }
            if let identity = d.identity, identity != "@" + (d.domain ?? "") { text += " header.i=" + Self.value(identity) }
            if let algorithm = d.algorithm { text += " header.a=" + Self.value(algorithm) }
            if let b = d.signaturePrefix, !b.isEmpty { text += " header.b=" + Self.value(b) }
            out.append(text)
        }
        if let dmarc {
            var text = "dmarc=\(dmarc.result.rawValue)"
            if let policy = dmarc.requestedPolicy {
                text += " (p=\(policy.rawValue) dis=\(dmarc.result == .fail ? dmarc.disposition.rawValue : "none"))"
            } else if dmarc.result != .pass, let reason = dmarc.reason {
                text += " " + Self.comment(reason)
            }
            if !dmarc.fromDomain.isEmpty { text += " header.from=" + Self.value(dmarc.fromDomain) }
            out.append(text)
        }
        if let arc {
            var text = "arc=\(arc.result.rawValue)"
            if arc.result != .pass, arc.result != .none, let reason = arc.reason { text += " " + Self.comment(reason) }
            if let sealer = arc.oldestPassingSealer, arc.result == .pass { text += " (oldest seal by \(Self.commentText(sealer)))" }
            out.append(text)
        }
        return out
    }

    /// The resinfo list as one value, as an ARC set's `ARC-Authentication-Results:` records it.
    public var results: String {
        let list = resinfos
        return list.isEmpty ? "none" : list.joined(separator: ";\r\n\t")
    }

    /// The whole field, folded one result a line, ending in CRLF.
    public var field: [UInt8] {
        Array("Authentication-Results: \(authservID);\r\n\t\(results)\r\n".utf8)
    }

    /// The field in at most `maxLength` octets: signatures' results beyond what fits are left out
    /// (the last first), never SPF's, DMARC's or ARC's.
    public func field(maxLength: Int) -> [UInt8] {
        var field = self.field
        var trimmed = self
        while field.count > maxLength, trimmed.dkim.count > 1 {
            trimmed.dkim.removeLast()
            field = trimmed.field
        }
        // The first signature's result stays, in its shortest form (an empty list would read as
        // "dkim=none").
        if field.count > maxLength, let first = trimmed.dkim.first {
            trimmed.dkim = [DKIMResult(verdict: first.verdict, domain: first.domain)]
            field = trimmed.field
        }
        return field
    }

    /// Whether a header field (name to CRLF) is an `Authentication-Results:` field that claims
    /// the given authserv-id: one a sender wrote to pass for our verdict (RFC 8601 §5).
    public static func claims(_ field: [UInt8], authservID: String) -> Bool {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let name = String(decoding: field[..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces).lowercased()
        guard name == "authentication-results" else { return false }
        // The authserv-id is the first token of the value, before an optional version and ";".
        var value = Substring(String(decoding: field[(colon + 1)...], as: UTF8.self))
        value = value.drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        value = Self.skipComments(value)
        let id = value.prefix { !($0 == ";" || $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "(") }
        var claimed = String(id).lowercased()
        if claimed.hasPrefix("\""), claimed.hasSuffix("\""), claimed.count >= 2 { claimed = String(claimed.dropFirst().dropLast()) }
        return claimed == authservID.lowercased()
    }

    static func skipComments(_ text: Substring) -> Substring {
        var rest = text
        while rest.first == "(" {
            var depth = 0
            var end = rest.startIndex
            for i in rest.indices {
                if rest[i] == "(" { depth += 1 }
                if rest[i] == ")" { depth -= 1 }
                if depth == 0 {
                    end = rest.index(after: i)
                    break
                }
                end = rest.endIndex
            }
            rest = rest[end...].drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        }
        return rest
    }

    /// A property value: a token as it is, anything else quoted (RFC 8601 §2.2, RFC 2045 token).
    static func value(_ text: String) -> String {
        // Printable ASCII but for tspecials; an address's "@" is allowed (`[local-part] "@"
        // domain-name`). Read as octets: every message's results pass through here.
        let isToken = !text.isEmpty && text.utf8.allSatisfy { b in
            guard b >= 0x21, b < 0x7F else { return false }
            switch b {
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ";"),
                UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "/"), UInt8(ascii: "["), UInt8(ascii: "]"),
                UInt8(ascii: "?"), UInt8(ascii: "="):
                return false
            default:
                return true
            }
        }
        return isToken ? text : quoted(text)
    }

    /// A quoted-string of printable ASCII, at most 100 characters of the text.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for c in text.prefix(100) {
            guard c.isASCII, let v = c.asciiValue, v >= 0x20, v < 0x7F else {
                out += "?"
                continue
            }
            if c == "\"" || c == "\\" { out += "\\" }
            out.append(c)
        }
        return out + "\""
    }

    /// A comment: `(text)`, parentheses and backslashes taken out, at most 100 characters.
    static func comment(_ text: String) -> String { "(" + commentText(text) + ")" }

    static func commentText(_ text: String) -> String {
        String(text.prefix(100).map { c -> Character in
            guard c.isASCII, let v = c.asciiValue, v >= 0x20, v < 0x7F, c != "(", c != ")", c != "\\" else { return "?" }
            return c
        })
    }
}
