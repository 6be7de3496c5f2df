import Logging
import MailAuth
import MailCore
import NIOCore
import SMTPCore

#if canImport(Glibc)
import Glibc
#endif

/// The checks of one message from a stranger (docs/authentication.md): SPF of the transaction's
/// sender (started at its first RCPT, shared by its messages), DKIM signatures verified as the
/// data streams in (the keys looked up as soon as the header section ends, while the body is
/// still coming), DMARC and ARC at the end of the data; and the forged `Authentication-Results:`
/// fields taken out of the message on its way to the spool. Used on one event loop; `finish`
/// runs on Swift's concurrency pool once the event loop has handed the object over.
final class MessageVerification: @unchecked Sendable {
    /// What to do with the message, and the fields to put before it.
    struct Verdict: Sendable {
        enum Action: Sendable {
            case accept
            case quarantine
            case refuse(Reply)
        }

        var action: Action
        var results: AuthenticationResults
    }

    private let settings: VerifySettings
    private let resolver: any DNSResolver
    private let hostname: String
    private let spf: Task<SPFOutcome, Never>
    private var dkim = DKIMVerifier()
    private var arc = ARCVerifier()
    private var filter: HeaderFieldFilter
    /// The key lookups, started when the header section ends.
    private var keys: Task<[String: DKIMKeyAnswer], Never>?
    private var sawHeaderEnd = false

    /// The most `Authentication-Results:` takes in a message's room (`prefixBudget`).
    static let prefixBudget = 2048

    init(settings: VerifySettings, resolver: any DNSResolver, hostname: String, spf: Task<SPFOutcome, Never>) {
        self.settings = settings
        self.resolver = resolver
        self.hostname = hostname
        self.spf = spf
        let ours = hostname
        filter = HeaderFieldFilter(dropWhenLong: ["authentication-results"]) { name, field in
            name == "authentication-results" && AuthenticationResults.claims(field, authservID: ours)
        }
    }

    /// The SPF check of a transaction's sender, bounded by the settings' timeout.
    static func startSPF(
        settings: VerifySettings, resolver: any DNSResolver, client: String, mailFrom: ReversePath, helo: String, hostname: String
    ) -> Task<SPFOutcome, Never> {
        let sender: String
        switch mailFrom {
        case .null: sender = ""
        case .mailbox(let m): sender = m.description
        }
        let address = IPNetwork.parseAddress(client) ?? []
        let domain = sender.isEmpty ? helo : String(sender[sender.index(after: sender.lastIndex(of: "@")!)...])
        let identity: SPFOutcome.Identity = sender.isEmpty ? .helo : .mailfrom
        return Task {
            await withDeadline(settings.timeout, otherwise: SPFOutcome(result: .temperror, identity: identity, domain: domain, reason: "timed out")) {
                await SPFChecker(resolver: resolver).check(client: address, mailFrom: sender, helo: helo, receiver: hostname, now: Int64(time(nil)))
            }
        }
    }

    /// The message's data, in order; returns what goes on to the spool (forged results removed).
    func update(_ data: ByteBuffer) -> ByteBuffer {
        let bytes = data.readableBytesView
        dkim.update(bytes)
        arc.update(bytes)
        if !sawHeaderEnd, dkim.header != nil { headerEnded() }
        let out = filter.filter(bytes)
        if out.count == data.readableBytes { return data }
        return ByteBuffer(bytes: out)
    }

    /// What the filter still holds at the end of the data.
    func endOfData() -> ByteBuffer? {
        dkim.endOfData()
        arc.endOfData()
        if !sawHeaderEnd { headerEnded() }
        let rest = filter.finish()
        return rest.isEmpty ? nil : ByteBuffer(bytes: rest)
    }

    /// Forged `Authentication-Results:` fields taken out.
    var removedFields: Int { filter.dropped }

    private func headerEnded() {
        sawHeaderEnd = true
        let names = Array(Set(dkim.keyNames + arc.keyNames))
        guard !names.isEmpty else { return }
        let resolver = self.resolver
        keys = Task {
            await withTaskGroup(of: (String, DKIMKeyAnswer).self) { group in
                for name in names {
                    group.addTask {
                        do throws(DNSError) {
                            let records = try await resolver.txt(name)
                            return (name, records.isEmpty ? .notFound : .records(records))
                        } catch .nameNotFound {
                            return (name, .notFound)
                        } catch {
                            return (name, .temporary("\(error)"))
                        }
                    }
                }
                var answers: [String: DKIMKeyAnswer] = [:]
                for await (name, answer) in group { answers[name] = answer }
                return answers
            }
        }
    }

    /// The results and what to do, once the data has ended (`endOfData`). Every lookup still
    /// running after the settings' timeout counts as a temporary failure.
    func finish() async -> Verdict {
        let settings = self.settings
        // An unsigned message has no key lookups to wait for (and no deadline to set).
        var answers: [String: DKIMKeyAnswer] = [:]
        if let keyTask = keys {
            let timedOut = Dictionary(uniqueKeysWithValues: Array(Set(dkim.keyNames + arc.keyNames)).map { ($0, DKIMKeyAnswer.temporary("timed out")) })
            answers = await withDeadline(settings.timeout, otherwise: timedOut) { await keyTask.value }
        }
        let now = Int64(time(nil))
        let fromFields = (dkim.header?.fields ?? []).filter { $0.name.lowercased() == "from" }.map { String(decoding: $0.value, as: UTF8.self) }
        let dkimResults = dkim.finish(keys: answers, now: now)
        let arcOutcome = arc.finish(keys: answers, now: now)
        let spfOutcome = await spf.value
        let checker = DMARCChecker(resolver: resolver, suffixes: settings.suffixes)
        let domains = DMARCChecker.authorDomains(fromFields: fromFields)
        let dmarc = await withDeadline(
            settings.timeout,
            otherwise: DMARCOutcome(
                result: .temperror, fromDomain: domains.first ?? "", disposition: .none, spfAligned: false, dkimAligned: false,
                reason: "timed out")
        ) {
            await checker.check(fromDomains: domains, spf: spfOutcome, dkim: dkimResults, sample: Int.random(in: 0..<100))
        }
        let results = AuthenticationResults(authservID: hostname, spf: spfOutcome, dkim: dkimResults, dmarc: dmarc, arc: arcOutcome)
        return Verdict(action: Self.action(dmarc, arc: arcOutcome, settings: settings), results: results)
    }

    /// What enforcing does (RFC 7489 §6.6.4, §10.1): a failing message whose domain asks for
    /// `reject` is refused, for `quarantine` set aside; a failure a trusted sealer's passing ARC
    /// chain vouches for is let through (the forwarding case, RFC 8617 §7.2.1).
    static func action(_ dmarc: DMARCOutcome, arc: ARCOutcome, settings: VerifySettings) -> Verdict.Action {
        guard settings.enforce else { return .accept }
        switch dmarc.result {
        case .fail:
            if arc.result == .pass, let sealer = arc.sealers.last, settings.trustedARCSealers.contains(sealer) { return .accept }
            switch dmarc.disposition {
            case .reject: return .refuse(Reply.Authentication.dmarcReject(dmarc.fromDomain, HeaderText.singleLine(dmarc.reason ?? "")))
            case .quarantine: return .quarantine
            case .none: return .accept
            }
        case .temperror:
            return .refuse(Reply.Authentication.dmarcTemporary(dmarc.fromDomain))
        case .pass, .none, .permerror:
            return .accept
        }
    }
}

/// The body's value, or `otherwise` once `seconds` have passed (the body is then cancelled; the
/// lookups it waits for end on their own, each bounded by the resolver).
func withDeadline<T: Sendable>(_ seconds: Double, otherwise: T, _ body: @escaping @Sendable () async -> T) async -> T {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            return Task.isCancelled ? nil : otherwise
        }
        var result = otherwise
        if let first = await group.next(), let value = first {
            result = value
        }
        group.cancelAll()
        return result
    }
}
