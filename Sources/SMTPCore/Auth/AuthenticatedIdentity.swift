/// Who a client proved to be with AUTH, and which sender addresses that allows.
public struct AuthenticatedIdentity: Hashable, Sendable {
    public var user: String
    public var senders: SenderPolicy

    public init(user: String, senders: SenderPolicy) {
        self.user = user
        self.senders = senders
    }
}

/// The reverse paths an authenticated user may give in MAIL FROM: their own addresses (with any
/// subaddress tag), whole domains, or anything. The null reverse path `<>` is always allowed: it
/// claims no one's address.
public struct SenderPolicy: Hashable, Sendable {
    public var unrestricted: Bool
    /// Full addresses, compared without regard to case.
    public var addresses: Set<String>
    /// Domains any of whose addresses the user may use.
    public var domains: Set<String>
    /// `alice+tag@example.com` counts as `alice@example.com`.
    public var delimiter: String?

    public static let any = SenderPolicy(unrestricted: true, addresses: [], domains: [], delimiter: nil)

    public init(unrestricted: Bool = false, addresses: Set<String>, domains: Set<String> = [], delimiter: String? = "+") {
        self.unrestricted = unrestricted
        self.addresses = Set(addresses.map { $0.lowercased() })
        self.domains = Set(domains.map { $0.lowercased() })
        self.delimiter = delimiter
    }

    public func permits(_ path: ReversePath) -> Bool {
        guard !unrestricted, let mailbox = path.mailbox else { return true }
        let domain = mailbox.normalizedDomain
        if domains.contains(domain) { return true }
        let local = mailbox.localPart.lowercased()
        if addresses.contains(local + "@" + domain) { return true }
        if let delimiter, !delimiter.isEmpty, let cut = local.firstRange(of: delimiter), cut.lowerBound != local.startIndex {
            return addresses.contains(local[..<cut.lowerBound] + "@" + domain)
        }
        return false
    }
}
