/// A mailbox `Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2), with UTF-8 allowed
/// in both parts as RFC 6531 extends the grammar.
public struct Mailbox: Hashable, Sendable, CustomStringConvertible {
    /// The local part, unquoted: `"a b"@x` has the local part `a b`.
    public var localPart: String
    /// A domain name, or an address literal with its brackets (`[192.0.2.1]`, `[IPv6:…]`).
    public var domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain
    }

    public var isAddressLiteral: Bool { domain.hasPrefix("[") }

    /// Whether the address can be sent without SMTPUTF8.
    public var isASCII: Bool { localPart.utf8.allSatisfy { $0 < 0x80 } && domain.utf8.allSatisfy { $0 < 0x80 } }

    /// The local part as it must be written on the wire: quoted when it is not a dot-string.
    public var wireLocalPart: String {
        if AddressGrammar.isDotString(Array(localPart.utf8)) { return localPart }
        var quoted = "\""
        for scalar in localPart.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
            quoted.unicodeScalars.append(scalar)
        }
        return quoted + "\""
    }

    /// `local@domain`, quoted where needed.
    public var description: String { "\(wireLocalPart)@\(domain)" }

    /// The domain in lower case, for comparisons (domains are case-insensitive, RFC 5321 §2.4).
    public var normalizedDomain: String { domain.lowercased() }
}

/// `Reverse-path = Path / "<>"` (RFC 5321 §4.1.2).
public enum ReversePath: Hashable, Sendable, CustomStringConvertible {
    case null
    case mailbox(Mailbox)

    public var mailbox: Mailbox? {
        if case .mailbox(let m) = self { return m }
        return nil
    }

    /// `<>` or `<local@domain>`.
    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let m): return "<\(m)>"
        }
    }
}

/// `Forward-path = Path` or the special `<Postmaster>` without a domain (RFC 5321 §4.1.1.3).
public enum ForwardPath: Hashable, Sendable, CustomStringConvertible {
    case postmaster
    case mailbox(Mailbox)

    public var description: String { "<\(address)>" }

    /// The address without its angle brackets (`postmaster` for the bare form).
    public var address: String {
        switch self {
        case .postmaster: return "postmaster"
        case .mailbox(let m): return m.description
        }
    }
}
