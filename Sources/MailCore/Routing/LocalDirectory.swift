import SMTPCore

/// The local domains, their users, aliases and catch-alls, and how a recipient address resolves
/// against them. Domains and local parts compare case-insensitively.
public struct LocalDirectory: Hashable, Sendable {
    public struct Domain: Hashable, Sendable {
        /// Mailbox names, lower case.
        public var users: Set<String>
        /// Local part (lower case) to targets: a local part of this domain, or a full address.
        public var aliases: [String: [String]]
        /// Where mail for an unknown local part goes, if anywhere.
        public var catchAll: String?

        public init(users: Set<String> = [], aliases: [String: [String]] = [:], catchAll: String? = nil) {
            self.users = Set(users.map { $0.lowercased() })
            self.aliases = Dictionary(aliases.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
            self.catchAll = catchAll
        }
    }

    /// Lower-case domain name to its contents.
    public var domains: [String: Domain]
    /// The domain for the bare `<postmaster>` (RFC 5321 §4.1.1.3).
    public var primaryDomain: String
    /// `alice+tag@` delivers to `alice@` when the delimiter is `+`; nil turns this off.
    public var recipientDelimiter: String?
    /// How deep aliases may point to aliases.
    public var maxAliasDepth = 10

    public init(domains: [String: Domain], primaryDomain: String? = nil, recipientDelimiter: String? = "+") {
        self.domains = Dictionary(domains.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.primaryDomain = primaryDomain?.lowercased() ?? self.domains.keys.sorted().first ?? "localhost"
        self.recipientDelimiter = recipientDelimiter
    }

    public enum Resolution: Hashable, Sendable {
        /// A local address: deliver to these targets (an alias may name remote ones).
        case deliver([Destination])
        /// The domain is local and the user is not.
        case unknownUser
        /// The domain is not ours: relaying, for those allowed to.
        case notLocal
        /// The local part cannot name a mailbox (it would leave the mail root, or holds control characters).
        case unsafe
        /// An alias leads in a circle or too deep.
        case aliasLoop
    }

    public func isLocal(domain: String) -> Bool { domains[domain.lowercased()] != nil }

    /// The local domain through which mail for `address` goes on to `target` on another machine
    /// (an alias or catch-all of ours pointing elsewhere); nil when that is no such forward. The
    /// reports, SRS and ARC sealing all ask this.
    public func forwardingDomain(of address: Mailbox, to target: Destination) -> String? {
        guard case .remote = target, isLocal(domain: address.normalizedDomain) else { return nil }
        return address.normalizedDomain
    }

    public func resolve(_ path: ForwardPath) -> Resolution {
        switch path {
        case .postmaster:
            return resolve(localPart: "postmaster", domain: primaryDomain, depth: 0)
        case .mailbox(let m):
            guard !m.isAddressLiteral, isLocal(domain: m.domain) else { return .notLocal }
            return resolve(localPart: m.localPart, domain: m.normalizedDomain, depth: 0)
        }
    }

    private func resolve(localPart: String, domain: String, depth: Int) -> Resolution {
        guard depth <= maxAliasDepth else { return .aliasLoop }
        guard let d = domains[domain] else { return .notLocal }
        let local = localPart.lowercased()
        guard Self.isSafePathComponent(local) else { return .unsafe }
        if let found = lookup(local, in: d, domain: domain, depth: depth) { return found }
        if let delimiter = recipientDelimiter, !delimiter.isEmpty, let range = local.firstRange(of: delimiter),
            range.lowerBound != local.startIndex
        {
            let base = String(local[..<range.lowerBound])
            if let found = lookup(base, in: d, domain: domain, depth: depth) { return found }
        }
        if local == "postmaster" {
            // Every local domain has a postmaster (RFC 5321 §4.5.1), with a mailbox of its own
            // unless configured otherwise.
            return .deliver([.mailbox(domain: domain, user: "postmaster")])
        }
        if let catchAll = d.catchAll {
            return expand([catchAll], domain: domain, depth: depth + 1)
        }
        return .unknownUser
    }

    private func lookup(_ local: String, in d: Domain, domain: String, depth: Int) -> Resolution? {
        if d.users.contains(local) { return .deliver([.mailbox(domain: domain, user: local)]) }
        if let targets = d.aliases[local] { return expand(targets, domain: domain, depth: depth + 1) }
        return nil
    }

    private func expand(_ targets: [String], domain: String, depth: Int) -> Resolution {
        var result: [Destination] = []
        for target in targets {
            let resolution: Resolution
            if target.contains("@") {
                guard let mailbox = Mailbox.parse(target) else { return .unknownUser }
                if isLocal(domain: mailbox.domain) {
                    resolution = resolve(localPart: mailbox.localPart, domain: mailbox.normalizedDomain, depth: depth)
                } else {
                    resolution = .deliver([.remote(mailbox)])
                }
            } else {
                resolution = resolve(localPart: target, domain: domain, depth: depth)
            }
            switch resolution {
            case .deliver(let t):
                for x in t where !result.contains(x) { result.append(x) }
            case .notLocal, .unknownUser, .unsafe:
                return .unknownUser
            case .aliasLoop:
                return .aliasLoop
            }
        }
        return .deliver(result)
    }

    /// A name that can be a folder under the mail root: not empty, not `.` or `..`, no `/`, no
    /// NUL or other control characters.
    public static func isSafePathComponent(_ name: String) -> Bool {
        guard !name.isEmpty, name != ".", name != "..", !name.hasPrefix(".") else { return false }
        return name.unicodeScalars.allSatisfy { $0 != "/" && $0 != "\\" && $0.value >= 32 && $0.value != 127 }
    }
}
