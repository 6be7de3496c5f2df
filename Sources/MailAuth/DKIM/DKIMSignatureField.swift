import Foundation

/// Why a signature or key record cannot be used, in words for Authentication-Results.
public struct DKIMProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A `DKIM-Signature` field read for verifying (RFC 6376 §3.5): every tag checked, so that a
/// malformed signature is a `permerror` with its reason before any key is looked up.
public struct DKIMSignatureField: Sendable {
    public var algorithm: String
    public var headerCanonicalization: DKIMCanonicalization.Kind
    public var bodyCanonicalization: DKIMCanonicalization.Kind
    /// `d=`, lower case.
    public var domain: String
    public var selector: String
    /// `h=`, lower case, in order.
    public var signedNames: [String]
    public var bodyHash: [UInt8]
    public var signature: [UInt8]
    /// `b=` as written, without whitespace (its start is `header.b` in Authentication-Results).
    public var signatureText: String
    /// `i=`; when absent, `@d`.
    public var identity: String
    /// `l=`: the body octets signed (a risk: anything after them is unsigned).
    public var bodyLength: Int?
    public var timestamp: Int64?
    public var expiry: Int64?
    /// The field as it is, for the header hash.
    public var field: RawHeaderField

    /// Reads the field; the failure is a reason for `permerror`. `arc`: an `ARC-Message-Signature`
    /// (RFC 8617 §4.1.2: no `v=`, and `i=` is the instance, not an identity).
    public static func parse(_ field: RawHeaderField, arc: Bool = false) -> Result<DKIMSignatureField, DKIMProblem> {
        var tags = DKIMTags(field.value)
        var seen = Set<String>()
        for pair in tags.pairs {
            guard seen.insert(pair.name).inserted else { return .failure(DKIMProblem("tag \(pair.name)= appears twice")) }
        }
        if arc {
            tags.remove("i")
        } else {
            guard tags["v"] == "1" else { return .failure(DKIMProblem(tags["v"] == nil ? "no v= tag" : "v=\(tags["v"]!) is not 1")) }
        }
        guard let a = tags["a"]?.lowercased() else { return .failure(DKIMProblem("no a= tag")) }
        guard ["rsa-sha256", "ed25519-sha256", "rsa-sha1"].contains(a) else { return .failure(DKIMProblem("unknown algorithm a=\(a)")) }
        let c = (tags["c"] ?? "simple/simple").lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(c.count), let hc = DKIMCanonicalization.Kind(rawValue: String(c[0])),
            let bc = c.count == 2 ? DKIMCanonicalization.Kind(rawValue: String(c[1])) : .simple
        else { return .failure(DKIMProblem("unknown canonicalization c=\(tags["c"] ?? "")")) }
        guard let d = tags["d"]?.lowercased(), !d.isEmpty else { return .failure(DKIMProblem("no d= tag")) }
        guard let s = tags["s"], !s.isEmpty else { return .failure(DKIMProblem("no s= tag")) }
        guard let h = tags["h"] else { return .failure(DKIMProblem("no h= tag")) }
        let names = h.split(separator: ":").map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        guard names.contains("from") else { return .failure(DKIMProblem("h= does not sign From")) }
        guard let bh = tags["bh"].flatMap(Self.base64) else { return .failure(DKIMProblem("no or bad bh= tag")) }
        guard let bText = tags["b"]?.filter({ !$0.isWhitespace }), let b = Self.base64(bText), !b.isEmpty else {
            return .failure(DKIMProblem("no or bad b= tag"))
        }
        if let q = tags["q"], !q.lowercased().split(separator: ":").contains("dns/txt") { return .failure(DKIMProblem("q=\(q) is not dns/txt")) }
        let identity = tags["i"] ?? "@\(d)"
        guard let iDomain = Self.domain(of: identity) else { return .failure(DKIMProblem("i= has no @")) }
        guard iDomain == d || iDomain.hasSuffix("." + d) else { return .failure(DKIMProblem("i= is not in d=\(d)")) }
        var length: Int?
        if let l = tags["l"] {
            guard let n = Int(l), n >= 0 else { return .failure(DKIMProblem("bad l=\(l)")) }
            length = n
        }
        var timestamp: Int64?
        var expiry: Int64?
        if let t = tags["t"] {
            guard let n = Int64(t) else { return .failure(DKIMProblem("bad t=\(t)")) }
            timestamp = n
        }
        if let x = tags["x"] {
            guard let n = Int64(x) else { return .failure(DKIMProblem("bad x=\(x)")) }
            if let timestamp, n <= timestamp { return .failure(DKIMProblem("x= is not after t=")) }
            expiry = n
        }
        return .success(
            DKIMSignatureField(
                algorithm: a, headerCanonicalization: hc, bodyCanonicalization: bc, domain: d, selector: s, signedNames: names,
                bodyHash: bh, signature: b, signatureText: bText, identity: identity, bodyLength: length, timestamp: timestamp,
                expiry: expiry, field: field))
    }

    /// The domain of `i=`, lower case.
    public var identityDomain: String { Self.domain(of: identity) ?? domain }

    static func domain(of identity: String) -> String? {
        identity.lastIndex(of: "@").map { identity[identity.index(after: $0)...].lowercased() }
    }

    static func base64(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text.filter { !$0.isWhitespace }).map { Array($0) }
    }

    /// Where the key is published.
    public var keyName: String { "\(selector)._domainkey.\(domain)" }
}

/// A DKIM key record (RFC 6376 §3.6.1), read for verifying.
public struct DKIMKeyRecord: Sendable {
    /// `k=`: `rsa` or `ed25519`.
    public var keyType: String
    /// `p=` decoded; empty: revoked.
    public var publicKey: [UInt8]
    /// `t=y`: the domain is testing DKIM.
    public var testing: Bool
    /// `t=s`: `i=` must be in `d=` itself, not a subdomain.
    public var strict: Bool
    /// `h=`: the hash algorithms allowed; nil: any.
    public var hashes: [String]?

    /// Reads the record (its strings joined); the failure is a reason for `permerror`.
    public static func parse(_ record: [UInt8]) -> Result<DKIMKeyRecord, DKIMProblem> {
        let tags = DKIMTags(record)
        if let v = tags["v"], v != "DKIM1" { return .failure(DKIMProblem("key record v=\(v)")) }
        let k = (tags["k"] ?? "rsa").lowercased()
        guard k == "rsa" || k == "ed25519" else { return .failure(DKIMProblem("key type k=\(k) unknown")) }
        guard let p = tags["p"] else { return .failure(DKIMProblem("key record without p=")) }
        let text = p.filter { !$0.isWhitespace }
        guard let key = text.isEmpty ? [] : DKIMSignatureField.base64(text) else { return .failure(DKIMProblem("key record p= is not base64")) }
        if let s = tags["s"] {
            let services = s.lowercased().split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard services.contains("*") || services.contains("email") else { return .failure(DKIMProblem("key not for email (s=\(s))")) }
        }
        let flags = (tags["t"] ?? "").lowercased().split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
        let hashes = tags["h"].map { $0.lowercased().split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) } }
        return .success(DKIMKeyRecord(keyType: k, publicKey: key, testing: flags.contains("y"), strict: flags.contains("s"), hashes: hashes))
    }
}
