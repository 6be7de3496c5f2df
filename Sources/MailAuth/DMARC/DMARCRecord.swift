/// A DMARC policy record (RFC 7489 §6.3), read from the TXT record at `_dmarc.<domain>`.
public struct DMARCRecord: Sendable, Equatable {
    public enum Policy: String, Sendable, Comparable {
        case none, quarantine, reject

        var strictness: Int {
            switch self {
            case .none: return 0
            case .quarantine: return 1
            case .reject: return 2
            }
        }

        public static func < (a: Policy, b: Policy) -> Bool { a.strictness < b.strictness }
    }

    public enum Alignment: String, Sendable {
        /// Organizational domains equal.
        case relaxed = "r"
        /// Domains equal.
        case strict = "s"
    }

    public var policy: Policy
    /// `sp=`: for subdomains of the domain the record was found at; `p` when absent.
    public var subdomainPolicy: Policy?
    /// `pct=`: the share of failing messages the policy applies to (0–100).
    public var percentage: Int
    public var dkimAlignment: Alignment
    public var spfAlignment: Alignment
    /// `rua=`, as written (aggregate reports are not sent yet).
    public var aggregateReports: String?

    public init(
        policy: Policy, subdomainPolicy: Policy? = nil, percentage: Int = 100, dkimAlignment: Alignment = .relaxed,
        spfAlignment: Alignment = .relaxed, aggregateReports: String? = nil
    ) {
        self.policy = policy
        self.subdomainPolicy = subdomainPolicy
        self.percentage = percentage
        self.dkimAlignment = dkimAlignment
        self.spfAlignment = spfAlignment
        self.aggregateReports = aggregateReports
    }

    /// Whether a TXT record is a DMARC record: it starts with `v=DMARC1` (§6.6.3).
    public static func isDMARC(_ record: [UInt8]) -> Bool {
        let text = String(decoding: record.prefix(32), as: UTF8.self)
        guard let first = text.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first else { return false }
        let parts = first.split(separator: "=", maxSplits: 1)
        return parts.count == 2 && parts[0].trimmed == "v" && parts[1].trimmed == "DMARC1"
    }

    /// Reads a record known to start with `v=DMARC1`. Unknown tags are ignored and a bad value
    /// of an optional tag takes its default (§6.3); a missing or bad `p=` is an error unless
    /// `rua=` is given, which makes the policy `none` (§6.6.3 step 6).
    public static func parse(_ record: [UInt8]) -> Result<DMARCRecord, DMARCProblem> {
        guard isDMARC(record), let text = String(validating: record, as: UTF8.self) else {
            return .failure(DMARCProblem("not a DMARC record"))
        }
        var tags: [String: String] = [:]
        for (index, part) in text.split(separator: ";").enumerated() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else {
                if part.trimmed.isEmpty { continue }
                return .failure(DMARCProblem("\"\(part.trimmed)\" is not a tag"))
            }
            let name = pair[0].trimmed.lowercased()
            // v= must come first (§6.4); a later one is an error like any repeated tag.
            guard index == 0 || name != "v" else { return .failure(DMARCProblem("v= is not the first tag")) }
            if tags[name] != nil { return .failure(DMARCProblem("tag \(name)= appears twice")) }
            tags[name] = pair[1].trimmed
        }
        let rua = tags["rua"].flatMap { $0.isEmpty ? nil : $0 }
        let policy: Policy
        if let p = tags["p"].flatMap({ Policy(rawValue: $0.lowercased()) }) {
            policy = p
        } else if rua != nil {
            policy = .none
        } else {
            return .failure(DMARCProblem(tags["p"] == nil ? "no p= tag" : "p=\(tags["p"]!) is not a policy"))
        }
        var percentage = 100
        if let pct = tags["pct"], let n = Int(pct), (0...100).contains(n) { percentage = n }
        return .success(
            DMARCRecord(
                policy: policy, subdomainPolicy: tags["sp"].flatMap { Policy(rawValue: $0.lowercased()) }, percentage: percentage,
                dkimAlignment: tags["adkim"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed,
                spfAlignment: tags["aspf"].flatMap { Alignment(rawValue: $0.lowercased()) } ?? .relaxed, aggregateReports: rua))
    }
}

/// Why a DMARC record or message cannot be checked, in words.
public struct DMARCProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Substring {
    /// Without the spaces and tabs at either end (read as octets: a DMARC record is parsed for
    /// every message checked).
    fileprivate var trimmed: String {
        let octets = utf8
        var start = octets.startIndex
        var end = octets.endIndex
        while start < end, octets[start] == 0x20 || octets[start] == 0x09 { octets.formIndex(after: &start) }
        while start < end {
            let last = octets.index(before: end)
            guard octets[last] == 0x20 || octets[last] == 0x09 else { break }
            end = last
        }
        return String(self[start..<end])
    }
}
