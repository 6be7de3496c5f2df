import Foundation
import MailCore

/// An SPF result (RFC 7208 §2.6).
public enum SPFResult: String, Sendable, CaseIterable {
    case pass, fail, softfail, neutral, none, temperror, permerror
}

/// What a check found, with what Authentication-Results and the logs show.
public struct SPFOutcome: Sendable, Equatable {
    public enum Identity: String, Sendable {
        /// The MAIL FROM domain (`smtp.mailfrom`).
        case mailfrom
        /// The HELO name, for a null reverse-path (`smtp.helo`).
        case helo
    }

    public var result: SPFResult
    public var identity: Identity
    /// The domain the check started from.
    public var domain: String
    /// The sender's explanation for a `fail` (from `exp=`), expanded.
    public var explanation: String?
    /// What decided: the matching term, or the problem behind an error.
    public var reason: String?

    public init(result: SPFResult, identity: Identity, domain: String, explanation: String? = nil, reason: String? = nil) {
        self.result = result
        self.identity = identity
        self.domain = domain
        self.explanation = explanation
        self.reason = reason
    }
}

/// The SPF `check_host()` function (RFC 7208 §4–§7): every mechanism and modifier, macros, the
/// limit of 10 lookups and of 2 void lookups. Lookups go through the given resolver (which
/// bounds each in time and caches); the caller bounds the whole check (§4.6.4 suggests 20 s).
/// Written by hand: no Swift SPF library exists.
public struct SPFChecker: Sendable {
    public let resolver: any DNSResolver
    public var lookupLimit = 10
    public var voidLookupLimit = 2

    public init(resolver: any DNSResolver) {
        self.resolver = resolver
    }

    /// Checks a transaction's sender (§2.4): the MAIL FROM domain, or with a null reverse-path the
    /// HELO name as `postmaster@<helo>`. `receiver` is our host name (the `%{r}` macro), `now`
    /// the Unix time (`%{t}`).
    public func check(client: [UInt8], mailFrom: String, helo: String, receiver: String, now: Int64) async -> SPFOutcome {
        var sender = mailFrom
        var identity = SPFOutcome.Identity.mailfrom
        if sender.isEmpty {
            sender = "postmaster@" + helo
            identity = .helo
        }
        let domain = sender.lastIndex(of: "@").map { String(sender[sender.index(after: $0)...]) } ?? sender
        return await checkHost(client: client, domain: domain, sender: sender, helo: helo, receiver: receiver, now: now, identity: identity)
    }

    /// `check_host(<ip>, <domain>, <sender>)`.
    public func checkHost(
        client: [UInt8], domain: String, sender: String, helo: String, receiver: String, now: Int64,
        identity: SPFOutcome.Identity = .mailfrom
    ) async -> SPFOutcome {
        var sender = sender
        // A local-part that is empty is "postmaster" (§4.3).
        if sender.hasPrefix("@") || !sender.contains("@") { sender = "postmaster@" + (sender.hasPrefix("@") ? String(sender.dropFirst()) : sender) }
        let evaluation = Evaluation(
            checker: self, ip: IPNetwork.unmapped(client), sender: sender, helo: helo, receiver: receiver, now: now)
        let (result, explanation, reason) = await evaluation.checkHost(domain, depth: 0)
        return SPFOutcome(result: result, identity: identity, domain: domain, explanation: explanation, reason: reason)
    }
}

/// Why a check stops early.
enum SPFAbort: Error {
    case temperror(String)
    case permerror(String)

    var outcome: (SPFResult, String?, String?) {
        switch self {
        case .temperror(let why): return (.temperror, nil, why)
        case .permerror(let why): return (.permerror, nil, why)
        }
    }
}

/// One check's state: the request and the lookups spent (shared by included and redirected
/// records, §4.6.4). Lives in one task.
final class Evaluation {
    let checker: SPFChecker
    let ip: [UInt8]
    let sender: String
    let helo: String
    let receiver: String
    let now: Int64
    var lookups = 0
    var voidLookups = 0
    /// The validated name for `%{p}`, found once.
    var validatedName: String?

    init(checker: SPFChecker, ip: [UInt8], sender: String, helo: String, receiver: String, now: Int64) {
        self.checker = checker
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.receiver = receiver
        self.now = now
    }

    var resolver: any DNSResolver { checker.resolver }
    var isIPv4: Bool { ip.count == 4 }

    /// `check_host` for one domain: the result, a `fail`'s explanation, and what decided.
    func checkHost(_ domain: String, depth: Int) async -> (SPFResult, String?, String?) {
        // §4.3: a malformed or single-label domain has no policy.
        guard Self.isValidDomain(domain) else { return (.none, nil, "\(domain) is not a domain name") }
        let record: SPFRecord
        do throws(SPFAbort) {
            guard let found = try await findRecord(domain) else { return (.none, nil, "\(domain) has no SPF record") }
            record = found
        } catch {
            return error.outcome
        }
        do throws(SPFAbort) {
            for directive in record.directives {
                if directive.mechanism.looksUp { try countLookup() }
                guard try await matches(directive.mechanism, domain: domain, depth: depth) else { continue }
                let result = directive.qualifier.result
                var explanation: String?
                if result == .fail, let exp = record.explanation {
                    explanation = await explain(exp, domain: domain)
                }
                return (result, explanation, "\(domain): \(directive.text)")
            }
            if let redirect = record.redirect {
                try countLookup()
                let target = try await expandDomain(redirect, domain: domain)
                let (result, explanation, reason) = await checkHost(target, depth: depth + 1)
                // §6.1: a redirect to a domain with no record is an error of the record.
                if result == .none { return (.permerror, nil, "redirect=\(target) has no SPF record") }
                return (result, explanation, reason)
            }
            return (.neutral, nil, "\(domain): no term matched")
        } catch {
            return error.outcome
        }
    }

    /// The one SPF record at a domain (§4.4, §4.5); nil when there is none.
    func findRecord(_ domain: String) async throws(SPFAbort) -> SPFRecord? {
        let records: [[UInt8]]
        do {
            records = try await resolver.txt(domain)
        } catch .nameNotFound {
            return nil
        } catch {
            throw .temperror("\(error)")
        }
        let spf = records.filter(SPFRecord.isSPF)
        guard !spf.isEmpty else { return nil }
        guard spf.count == 1 else { throw .permerror("\(domain) has \(spf.count) SPF records") }
        switch SPFRecord.parse(spf[0]) {
        case .success(let record): return record
        case .failure(let problem): throw .permerror("\(domain): \(problem)")
        }
    }

    func countLookup() throws(SPFAbort) {
        lookups += 1
        if lookups > checker.lookupLimit { throw .permerror("more than \(checker.lookupLimit) DNS-querying terms") }
    }

    func countVoid() throws(SPFAbort) {
        voidLookups += 1
        if voidLookups > checker.voidLookupLimit { throw .permerror("more than \(checker.voidLookupLimit) void lookups") }
    }

    func matches(_ mechanism: SPFRecord.Mechanism, domain: String, depth: Int) async throws(SPFAbort) -> Bool {
        switch mechanism {
        case .all:
            return true
        case .ip4(let network, let length):
            return isIPv4 && Self.inNetwork(ip, network, length)
        case .ip6(let network, let length):
            return !isIPv4 && Self.inNetwork(ip, network, length)
        case .include(let spec):
            let target = try await expandDomain(spec, domain: domain)
            let (result, _, reason) = await checkHost(target, depth: depth + 1)
            switch result {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror: throw .temperror(reason ?? "include:\(target)")
            case .permerror: throw .permerror(reason ?? "include:\(target)")
            case .none: throw .permerror("include:\(target) has no SPF record")
            }
        case .a(let spec, let v4, let v6):
            let target = try await target(spec, domain: domain)
            let addresses = try await addresses(target, countVoid: true)
            return addresses.contains { Self.inNetwork(ip, $0, isIPv4 ? v4 : v6) }
        case .mx(let spec, let v4, let v6):
            let target = try await target(spec, domain: domain)
            let exchangers = try await lookup { () async throws(DNSError) in try await resolver.mx(target) }
            if exchangers.isEmpty { try countVoid() }
            // §4.6.4: no more than 10 exchangers are looked up.
            guard exchangers.count <= 10 else { throw .permerror("mx:\(target) has more than 10 exchangers") }
            for exchanger in exchangers where !exchanger.exchange.isEmpty {
                let addresses = try await addresses(exchanger.exchange, countVoid: false)
                if addresses.contains(where: { Self.inNetwork(ip, $0, isIPv4 ? v4 : v6) }) { return true }
            }
            return false
        case .ptr(let spec):
            let target = try await target(spec, domain: domain)
            let names = try await validatedNames(countVoid: true)
            return names.contains { Self.isWithin($0, target) }
        case .exists(let spec):
            let target = try await expandDomain(spec, domain: domain)
            // Always an A lookup, whatever the client's family (§5.7).
            let found = try await lookup { () async throws(DNSError) in try await resolver.ipv4(target) }
            if found.isEmpty { try countVoid() }
            return !found.isEmpty
        }
    }

    /// The addresses of the client's family at a name; NXDOMAIN and NODATA are none (and void).
    func addresses(_ name: String, countVoid: Bool) async throws(SPFAbort) -> [[UInt8]] {
        let v4 = isIPv4
        let found = try await lookup { () async throws(DNSError) in try await v4 ? resolver.ipv4(name) : resolver.ipv6(name) }
        if found.isEmpty, countVoid { try self.countVoid() }
        return found
    }

    /// A lookup whose NXDOMAIN is an empty answer and whose failure is `temperror`.
    func lookup<T>(_ body: () async throws(DNSError) -> [T]) async throws(SPFAbort) -> [T] {
        do {
            return try await body()
        } catch .nameNotFound {
            return []
        } catch {
            throw .temperror("\(error)")
        }
    }

    /// The client's names that point back to it (§5.5): at most 10 PTR names, each kept when one
    /// of its addresses is the client's. A failed PTR lookup is no names; a failed address lookup
    /// drops that name.
    func validatedNames(countVoid: Bool) async throws(SPFAbort) -> [String] {
        let names: [String]
        do {
            names = try await lookup { () async throws(DNSError) in try await resolver.ptr(ip) }
        } catch {
            return []
        }
        if names.isEmpty, countVoid { try self.countVoid() }
        var validated: [String] = []
        for name in names.prefix(10) {
            let found = (try? await (isIPv4 ? resolver.ipv4(name) : resolver.ipv6(name))) ?? []
            if found.contains(ip) { validated.append(name) }
        }
        return validated
    }

    /// The explanation for a `fail` (§6.2): the one TXT record at the expanded domain, itself
    /// expanded; nothing on any error.
    func explain(_ spec: SPFMacroString, domain: String) async -> String? {
        guard let target = try? await expandDomain(spec, domain: domain),
            let records = try? await resolver.txt(target), records.count == 1,
            let text = String(validating: records[0], as: UTF8.self),
            case .success(let string) = SPFMacroString.parse(Substring(text), explanation: true)
        else { return nil }
        return try? await expandAsync(string, domain: domain)
    }

    // MARK: Macros (§7)

    /// Expands a domain-spec; a name over 253 octets loses labels from the left (§7.3).
    func expandDomain(_ spec: SPFMacroString, domain: String) async throws(SPFAbort) -> String {
        var name = try await expandAsync(spec, domain: domain)
        if name.hasSuffix(".") { name.removeLast() }
        while name.utf8.count > 253, let dot = name.firstIndex(of: ".") {
            name = String(name[name.index(after: dot)...])
        }
        return name
    }

    /// A mechanism's domain: its domain-spec expanded, or the current domain.
    func target(_ spec: SPFMacroString?, domain: String) async throws(SPFAbort) -> String {
        guard let spec else { return domain }
        return try await expandDomain(spec, domain: domain)
    }

    /// Expands a macro-string, looking up first what `%{p}` needs (RFC 7208 §7.3 discourages
    /// `%{p}`; it costs a PTR lookup and the addresses of each name, not counted as terms).
    func expandAsync(_ string: SPFMacroString, domain: String) async throws(SPFAbort) -> String {
        try await prepare(string)
        return expand(string, domain: domain)
    }

    /// Looks up what `%{p}` needs, if the string uses it.
    func prepare(_ string: SPFMacroString) async throws(SPFAbort) {
        guard validatedName == nil,
            string.parts.contains(where: { if case .macro(letter: "p", _, _, _, _) = $0 { return true } else { return false } })
        else { return }
        validatedName = try await validatedNames(countVoid: false).first ?? "unknown"
    }

    func expand(_ string: SPFMacroString, domain: String) -> String {
        var out = ""
        for part in string.parts {
            switch part {
            case .literal(let text):
                out += text
            case .macro(let letter, let escaped, let count, let reversed, let delimiters):
                var value = macroValue(letter, domain: domain)
                let separators = delimiters.isEmpty ? ["."] : delimiters
                var pieces = value.split(omittingEmptySubsequences: false, whereSeparator: separators.contains).map(String.init)
                if reversed { pieces.reverse() }
                if let count, count < pieces.count { pieces = Array(pieces.suffix(count)) }
                value = pieces.joined(separator: ".")
                out += escaped ? Self.urlEscaped(value) : value
            }
        }
        return out
    }

    func macroValue(_ letter: Character, domain: String) -> String {
        let at = sender.lastIndex(of: "@")
        switch letter {
        case "s": return sender
        case "l": return at.map { String(sender[..<$0]) } ?? "postmaster"
        case "o": return at.map { String(sender[sender.index(after: $0)...]) } ?? sender
        case "d": return domain
        case "i":
            if isIPv4 { return IPAddressText.format(ip) }
            return ip.flatMap { [String($0 >> 4, radix: 16), String($0 & 0xF, radix: 16)] }.joined(separator: ".")
        case "p": return validatedName ?? "unknown"
        case "v": return isIPv4 ? "in-addr" : "ip6"
        case "h": return helo
        case "c": return IPAddressText.format(ip)
        case "r": return receiver.isEmpty ? "unknown" : receiver
        case "t": return String(now)
        default: return ""
        }
    }

    /// Everything outside RFC 3986's unreserved characters, %-encoded (§7.3).
    static func urlEscaped(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    // MARK: Names and networks

    /// A domain check_host can start from: labels of 1 to 63 octets, two of them at least (§4.3).
    static func isValidDomain(_ domain: String) -> Bool {
        var name = Substring(domain)
        if name.hasSuffix(".") { name.removeLast() }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && name.utf8.count <= 253 && labels.allSatisfy { (1...63).contains($0.utf8.count) }
    }

    static func isWithin(_ name: String, _ domain: String) -> Bool {
        let n = name.lowercased(), d = domain.lowercased()
        return n == d || n.hasSuffix("." + d)
    }

    static func inNetwork(_ address: [UInt8], _ network: [UInt8], _ length: Int) -> Bool {
        address.count == network.count && IPNetwork(address: network, prefixLength: length).contains(address: address)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
