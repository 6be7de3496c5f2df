import Crypto
import Foundation

/// Makes the `DKIM-Signature` field (RFC 6376 §3.5, §5) of one key for one message:
/// relaxed/relaxed canonicalization, the SHA-256 body hash given (computed while the message
/// streamed in), the header fields chosen by `signedNames`, `t=` and an optional `x=`, no `l=`.
/// Pure: the caller gives the time and the octets.
public struct DKIMSigner: Sendable {
    /// The signing domain (`d=`), lower case, in A-labels.
    public var domain: String
    public var selector: String
    public var key: DKIMKey
    /// Seconds the signature stays valid (`x=`); nil: it does not expire.
    public var expiry: Int?

    public init(domain: String, selector: String, key: DKIMKey, expiry: Int? = nil) {
        self.domain = domain.lowercased()
        self.selector = selector
        self.key = key
        self.expiry = expiry
    }

    /// The fields a signature covers (RFC 6376 §5.4.1): each one present is signed, and one more
    /// time when absent ("oversigned": a field added later breaks the signature); From always one
    /// more time than it occurs, so that no second From can be put in.
    public static let fieldsToSign = [
        "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
        "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
    ]

    /// A selector (RFC 6376 §3.1): DNS labels of letters, digits and hyphens, dots between them.
    public static func isSelector(_ text: String) -> Bool {
        !text.isEmpty
            && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.count <= 63
                    && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
            }
    }

    /// The `h=` names for a message with these fields, lower case, in signing order.
    public static func signedNames(for fields: [RawHeaderField]) -> [String] {
        var counts: [String: Int] = [:]
        for f in fields { counts[f.name.lowercased(), default: 0] += 1 }
        var names: [String] = []
        for name in fieldsToSign.map({ $0.lowercased() }) {
            let present = counts[name] ?? 0
            let times = name == "from" ? present + 1 : max(present, 1)
            names += Array(repeating: name, count: times)
        }
        return names
    }

    /// The fields named by `names`, in order, each name taking the last instance not yet taken
    /// (RFC 6376 §5.4.2); a name with none left adds nothing.
    public static func select(_ names: [String], from fields: [RawHeaderField]) -> [RawHeaderField] {
        var used = Set<Int>()
        var chosen: [RawHeaderField] = []
        for name in names {
            guard let i = fields.indices.last(where: { !used.contains($0) && fields[$0].name.lowercased() == name.lowercased() }) else {
                continue
            }
            used.insert(i)
            chosen.append(fields[i])
        }
        return chosen
    }

    /// The complete `DKIM-Signature` field, folded, ending with CRLF: to go first in the message.
    /// `time` is the signing time in seconds since 1970.
    public func signatureField(fields: [RawHeaderField], bodyHash: [UInt8], time: Int64) throws -> [UInt8] {
        try signatureField(name: "DKIM-Signature", leading: "v=1", fields: fields, bodyHash: bodyHash, time: time)
    }

    /// A field of DKIM's form under another name and first tag: `ARC-Message-Signature` with
    /// `i=` (RFC 8617 §4.1.2) is the same signature over the same input.
    func signatureField(name: String, leading: String, fields: [RawHeaderField], bodyHash: [UInt8], time: Int64) throws -> [UInt8] {
        let names = Self.signedNames(for: fields)
        let unsigned = unsignedField(name: name, leading: leading, names: names, bodyHash: bodyHash, time: time)
        let input = DKIMCanonicalization.headerInput(fields, names: names, signature: RawHeaderField(name: name, octets: unsigned), .relaxed)
        let signature = try key.sign(hash: SHA256.hash(data: input))
        return unsigned + Self.folded(Data(signature).base64EncodedString(), first: 2) + [13, 10]
    }

    /// Octets of a signature's base64 text for this key.
    var signatureBase64Length: Int {
        let octets = key.algorithm == .ed25519SHA256 ? 64 : key.bits / 8
        return (octets + 2) / 3 * 4
    }

    /// How many octets `signatureField` makes for these fields at this time: the signature's
    /// length is fixed by the key (RSA: the modulus; Ed25519: 64 octets).
    public func signatureFieldLength(fields: [RawHeaderField], time: Int64) -> Int {
        signatureFieldLength(name: "DKIM-Signature", leading: "v=1", fields: fields, time: time)
    }

    func signatureFieldLength(name: String, leading: String, fields: [RawHeaderField], time: Int64) -> Int {
        let unsigned = unsignedField(
            name: name, leading: leading, names: Self.signedNames(for: fields), bodyHash: Array(repeating: 0, count: 32), time: time)
        return unsigned.count + Self.folded(String(repeating: "A", count: signatureBase64Length), first: 2).count + 2
    }

    /// The field up to and including `b=`, folded at about 76 columns.
    func unsignedField(name: String, leading: String, names: [String], bodyHash: [UInt8], time: Int64) -> [UInt8] {
        var second = "d=\(domain); s=\(selector); t=\(time);"
        if let expiry { second += " x=\(time + Int64(expiry));" }
        var text = "\(name): \(leading); a=\(key.algorithm.rawValue); c=relaxed/relaxed;\r\n\t" + second
        // h= folds after a colon (FWS is allowed around each, RFC 6376 §3.5).
        var line = " h="
        var column = 1 + second.utf8.count
        for (i, name) in names.enumerated() {
            let piece = name + (i == names.count - 1 ? ";" : ":")
            if column + line.utf8.count + piece.utf8.count > 76 {
                text += line + "\r\n\t"
                column = 1
                line = ""
            }
            line += piece
        }
        text += line
        text += "\r\n\tbh=\(Data(bodyHash).base64EncodedString());\r\n\tb="
        return Array(text.utf8)
    }

    /// Base64 text folded into lines of at most 72 characters, the first `first` shorter.
    static func folded(_ base64: String, first: Int) -> [UInt8] {
        var out: [UInt8] = []
        var rest = Substring(base64)
        var width = 72 - first
        while !rest.isEmpty {
            if !out.isEmpty { out += [13, 10, 9] }
            out += Array(rest.prefix(width).utf8)
            rest = rest.dropFirst(width)
            width = 72
        }
        return out
    }

    /// Whether the message already carries a signature of this domain and selector (it was
    /// signed before: a message that comes back through us is not signed twice).
    public func hasSigned(_ fields: [RawHeaderField]) -> Bool {
        fields.contains { field in
            guard field.name.lowercased() == "dkim-signature" else { return false }
            let tags = DKIMTags(field.value)
            return tags["d"]?.lowercased() == domain && tags["s"] == selector
        }
    }
}

/// A tag list (RFC 6376 §3.2): `name=value` pairs separated by `;`, whitespace (folding
/// included) around them ignored. The first of a name counts.
public struct DKIMTags: Sendable {
    public private(set) var pairs: [(name: String, value: String)] = []

    public init(_ text: some Collection<UInt8>) {
        for part in text.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
            guard let eq = part.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: part[..<eq], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let value = String(decoding: part[part.index(after: eq)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty else { continue }
            pairs.append((name, value))
        }
    }

    public subscript(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// Forgets a tag.
    public mutating func remove(_ name: String) { pairs.removeAll { $0.name == name } }
}

extension RawHeaderField {
    /// A `DKIM-Signature` field with its `b=` value taken out (whitespace and folding in it too),
    /// all else as it was: what the signature was computed over (RFC 6376 §3.7).
    public var withoutSignatureValue: RawHeaderField {
        var out = octets
        let valueStart = octets.count - value.count
        var i = valueStart
        var tagStart = valueStart
        while i <= out.count {
            if i == out.count || out[i] == UInt8(ascii: ";") {
                // The tag from tagStart to i: is its name "b"?
                let tag = out[tagStart..<i]
                if let eq = tag.firstIndex(of: UInt8(ascii: "=")),
                    tag[..<eq].filter({ !($0 == 32 || $0 == 9 || $0 == 13 || $0 == 10) }) == [UInt8(ascii: "b")]
                {
                    out.removeSubrange((eq + 1)..<i)
                    return RawHeaderField(name: name, octets: out)
                }
                tagStart = i + 1
            }
            i += 1
        }
        return self
    }
}
