import MailCore

/// What DMARC found for a message (RFC 7489 §6.6), with what Authentication-Results shows.
public struct DMARCOutcome: Sendable, Equatable {
    public enum Result: String, Sendable {
        case pass, fail, none, temperror, permerror
    }

    public var result: Result
    /// The author domain (`header.from`).
    public var fromDomain: String
    /// Where the policy record was found: the From domain or its organizational domain.
    public var policyDomain: String?
    public var record: DMARCRecord?
    /// What the domain asks for this message (`p=`, or `sp=` for a subdomain), before `pct=`.
    public var requestedPolicy: DMARCRecord.Policy?
    /// What to do with it: the requested policy for a failing message that `pct=` picks, one step
    /// milder for one it does not (§6.6.4), `none` otherwise.
    public var disposition: DMARCRecord.Policy
    public var spfAligned: Bool
    public var dkimAligned: Bool
    /// Why, when not `pass`.
    public var reason: String?

    public init(
        result: Result, fromDomain: String, policyDomain: String? = nil, record: DMARCRecord? = nil,
        requestedPolicy: DMARCRecord.Policy? = nil, disposition: DMARCRecord.Policy = .none, spfAligned: Bool = false,
        dkimAligned: Bool = false, reason: String? = nil
    ) {
        self.result = result
        self.fromDomain = fromDomain
        self.policyDomain = policyDomain
        self.record = record
        self.requestedPolicy = requestedPolicy
        self.disposition = disposition
        self.spfAligned = spfAligned
        self.dkimAligned = dkimAligned
        self.reason = reason
    }
}

/// DMARC (RFC 7489): policy discovery at `_dmarc.<From domain>` then the organizational domain
/// (the Public Suffix List), relaxed or strict alignment of SPF's and DKIM's domains, `p`, `sp`,
/// `pct`. Lookups go through the resolver; the caller gives the SPF and DKIM results and the
/// random number for `pct` (0 to 99), so that tests choose it.
/// Written by hand: no Swift DMARC library exists.
public struct DMARCChecker: Sendable {
    public let resolver: any DNSResolver
    public let suffixes: PublicSuffixList

    public init(resolver: any DNSResolver, suffixes: PublicSuffixList = .embedded) {
        self.resolver = resolver
        self.suffixes = suffixes
    }

    /// The author domains of a message: the domain of every address in every From field (§6.6.1
    /// checks each of a multi-valued From and applies the strictest failing policy; several From
    /// fields, which RFC 5322 forbids, are read the same way so that they cannot hide a domain).
    public static func authorDomains(fromFields: [String]) -> [String] {
        var domains: [String] = []
        for field in fromFields {
            for address in MessageHeaders.addresses(in: unfolded(field)) {
                guard let at = address.lastIndex(of: "@") else { continue }
                var domain = address[address.index(after: at)...].lowercased()
                if domain.hasSuffix(".") { domain.removeLast() }
                if !domain.isEmpty, !domains.contains(domain) { domains.append(domain) }
            }
        }
        return domains
    }

    /// A field's value without its line breaks (CRLF, or LF alone), by octets: `replacing` on
    /// String goes through the generic collection algorithms, a cost on every message checked.
    static func unfolded(_ field: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(field.utf8.count)
        var octets = field.utf8.makeIterator()
        var pendingCR = false
        while let b = octets.next() {
            if pendingCR {
                pendingCR = false
                if b == 10 { continue }
                out.append(13)
            }
            if b == 13 {
                pendingCR = true
            } else if b != 10 {
                out.append(b)
            }
        }
        if pendingCR { out.append(13) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Checks a message. `spf` is the SPF outcome of its MAIL FROM (or HELO) domain, `dkim` the
    /// results of its signatures.
    public func check(fromDomains: [String], spf: SPFOutcome?, dkim: [DKIMResult], sample: Int) async -> DMARCOutcome {
        guard !fromDomains.isEmpty else {
            return DMARCOutcome(
                result: .none, fromDomain: "", disposition: .none, spfAligned: false, dkimAligned: false, reason: "no From domain")
        }
        var outcomes: [DMARCOutcome] = []
        for domain in fromDomains {
            outcomes.append(await check(fromDomain: domain, spf: spf, dkim: dkim, sample: sample))
        }
        if let worst = outcomes.filter({ $0.result == .fail }).max(by: { $0.disposition < $1.disposition }) { return worst }
        for wanted in [DMARCOutcome.Result.temperror, .permerror, .none] {
            if let found = outcomes.first(where: { $0.result == wanted }) { return found }
        }
        return outcomes[0]
    }

    func check(fromDomain: String, spf: SPFOutcome?, dkim: [DKIMResult], sample: Int) async -> DMARCOutcome {
        var outcome = DMARCOutcome(result: .none, fromDomain: fromDomain, disposition: .none, spfAligned: false, dkimAligned: false)
        let organizational = suffixes.organizationalDomain(of: fromDomain)
        var found: (domain: String, record: DMARCRecord)?
        for domain in fromDomain == organizational ? [fromDomain] : [fromDomain, organizational] {
            switch await policy(at: domain) {
            case .temporary(let why):
                outcome.result = .temperror
                outcome.reason = why
                return outcome
            case .invalid(let why):
                // §6.6.3: a record without a valid policy means no DMARC for the message.
                outcome.reason = "_dmarc.\(domain): \(why)"
                return outcome
            case .absent:
                continue
            case .found(let record):
                found = (domain, record)
            }
            if found != nil { break }
        }
        guard let found else {
            outcome.reason = "no DMARC record"
            return outcome
        }
        let record = found.record
        outcome.policyDomain = found.domain
        outcome.record = record
        let requested = found.domain == fromDomain ? record.policy : (record.subdomainPolicy ?? record.policy)
        outcome.requestedPolicy = requested

        if let spf, spf.result == .pass {
            outcome.spfAligned = aligned(spf.domain, fromDomain, record.spfAlignment)
        }
        outcome.dkimAligned = dkim.contains { $0.verdict == .pass && $0.domain.map { aligned($0, fromDomain, record.dkimAlignment) } == true }
        if outcome.spfAligned || outcome.dkimAligned {
            outcome.result = .pass
            return outcome
        }
        outcome.result = .fail
        outcome.reason = Self.failureReason(spf: spf, dkim: dkim, fromDomain: fromDomain)
        if sample < record.percentage {
            outcome.disposition = requested
        } else {
            outcome.disposition = requested == .reject ? .quarantine : .none
        }
        return outcome
    }

    /// Whether two domains align: equal (strict), or with equal organizational domains (relaxed).
    public func aligned(_ domain: String, _ fromDomain: String, _ mode: DMARCRecord.Alignment) -> Bool {
        let a = Self.normalized(domain), b = Self.normalized(fromDomain)
        if a == b { return true }
        guard mode == .relaxed else { return false }
        return suffixes.organizationalDomain(of: a) == suffixes.organizationalDomain(of: b)
    }

    static func normalized(_ domain: String) -> String {
        var d = domain.lowercased()
        if d.hasSuffix(".") { d.removeLast() }
        return d
    }

    static func failureReason(spf: SPFOutcome?, dkim: [DKIMResult], fromDomain: String) -> String {
        var parts: [String] = []
        if let spf {
            parts.append(spf.result == .pass ? "SPF passed for \(spf.domain), not aligned with \(fromDomain)" : "SPF \(spf.result) for \(spf.domain)")
        }
        let passing = dkim.filter { $0.verdict == .pass }.compactMap(\.domain)
        if passing.isEmpty {
            parts.append(dkim.isEmpty ? "no DKIM signature" : "no DKIM signature verified")
        } else {
            parts.append("DKIM passed for \(passing.joined(separator: ", ")), not aligned with \(fromDomain)")
        }
        return parts.joined(separator: "; ")
    }

    enum PolicyLookup {
        case found(DMARCRecord)
        case absent
        case invalid(String)
        case temporary(String)
    }

    /// The policy record at `_dmarc.<domain>` (§6.6.3).
    func policy(at domain: String) async -> PolicyLookup {
        let records: [[UInt8]]
        do {
            records = try await resolver.txt("_dmarc." + domain)
        } catch .nameNotFound {
            return .absent
        } catch {
            return .temporary("\(error)")
        }
        let dmarc = records.filter(DMARCRecord.isDMARC)
        guard !dmarc.isEmpty else { return .absent }
        // Several records end the discovery without a policy (step 5), not only at this name.
        guard dmarc.count == 1 else { return .invalid("\(dmarc.count) DMARC records") }
        switch DMARCRecord.parse(dmarc[0]) {
        case .success(let record): return .found(record)
        case .failure(let problem): return .invalid(problem.description)
        }
    }
}
