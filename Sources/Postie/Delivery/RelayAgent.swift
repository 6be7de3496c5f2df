import Logging
import NIOConcurrencyHelpers
import MailCore
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore
import SMTPNIO
import Storage

/// Carries messages to other machines: finds the destination's exchangers (static route,
/// smarthost or MX), tries each of their addresses in turn until one is prepared to take the mail,
/// and reports each recipient's outcome. One connection carries all recipients of a message that
/// share a destination.
final class RelayAgent: Sendable {
    struct Outcome: Sendable {
        var outcome: RecipientOutcome
        /// `host[address]:port` of the server that answered, for logs and bounces.
        var relay: String?
    }

    let live: LiveConfiguration
    /// The current configuration: read once per destination and attempt.
    var configuration: PostieConfiguration { live.configuration }
    let resolver: DNSResolver
    let spool: Spool
    let threadPool: NIOThreadPool
    let group: EventLoopGroup
    let logger: Logger
    let slots: ConnectionSlots
    private let batcherBox = NIOLockedValueBox<DestinationBatcher?>(nil)

    private var batcher: DestinationBatcher {
        batcherBox.withLockedValue { box in
            if let b = box { return b }
            let b = DestinationBatcher(
                perDestination: configuration.relayMaxConnectionsPerDestination, maxMessages: configuration.relayMaxMessagesPerConnection
            ) { [weak self] domain, jobs in
                guard let self else {
                    let gone = Reply(451, .init(4, 3, 2), "the mail system is shutting down")
                    return jobs.map { job in Dictionary(uniqueKeysWithValues: job.members.map { ($0, Outcome(outcome: .deferred(gone), relay: nil)) }) }
                }
                return await self.deliverBatch(domain, jobs)
            }
            box = b
            return b
        }
    }

    init(
        live: LiveConfiguration, resolver: DNSResolver, spool: Spool, threadPool: NIOThreadPool, group: EventLoopGroup, logger: Logger
    ) throws {
        let configuration = live.configuration
        anyCertificate = try TLSCredentials.clientContext(verify: false)
        verified = NIOLockedValueBox(
            (configuration.tlsCAFile, try TLSCredentials.clientContext(verify: true, trustedCAs: configuration.tlsCAFile)))
        self.live = live
        self.resolver = resolver
        self.spool = spool
        self.threadPool = threadPool
        self.group = group
        self.logger = logger
        // Per destination, the batcher limits connections; here only the total counts.
        self.slots = ConnectionSlots(total: configuration.relayMaxConnections)
    }

    /// Delivers the remote recipients at `indices`; returns an outcome for each.
    func deliver(_ envelope: Envelope, indices: [Int]) async -> [Int: Outcome] {
        var byDomain: [String: [Int]] = [:]
        for i in indices {
            guard case .remote(let m) = envelope.recipients[i].target else { continue }
            byDomain[m.normalizedDomain, default: []].append(i)
        }
        var result: [Int: Outcome] = [:]
        await withTaskGroup(of: [Int: Outcome].self) { group in
            for (domain, members) in byDomain {
                group.addTask { await self.deliver(envelope, to: domain, members) }
            }
            for await part in group { result.merge(part) { a, _ in a } }
        }
        return result
    }

    private func all(_ members: [Int], _ outcome: RecipientOutcome, relay: String? = nil) -> [Int: Outcome] {
        Dictionary(uniqueKeysWithValues: members.map { ($0, Outcome(outcome: outcome, relay: relay)) })
    }

    /// The hosts to try for a domain, with their port, or the outcome that ends the attempt.
    enum Route {
        case hosts([(host: String, port: Int)], credentials: ClientCredentials?)
        case end(Reply)
    }

    private func route(_ domain: String) async -> Route {
        let configuration = self.configuration
        if domain.hasPrefix("[") && domain.hasSuffix("]") {
            var literal = String(domain.dropFirst().dropLast())
            if literal.lowercased().hasPrefix("ipv6:") { literal = String(literal.dropFirst(5)) }
            return .hosts([(literal, configuration.relayPort)], credentials: nil)
        }
        if let r = configuration.routes[domain] { return .hosts([(r.host, r.port)], credentials: nil) }
        if let s = configuration.smarthost {
            let credentials = configuration.smarthostUser.flatMap { user in
                configuration.smarthostPassword.map { ClientCredentials(user: user, password: $0) }
            }
            return .hosts([(s.host, s.port)], credentials: credentials)
        }
        do {
            let records = try await resolver.mx(domain)
            switch ExchangerOrder.decide(
                domain: domain, records: records.map { ($0.preference, $0.exchange) }, ourName: configuration.hostname,
                random: { Int.random(in: 0..<$0) })
            {
            case .nullMX:
                return .end(Reply(556, .init(5, 1, 10), "\(domain) does not accept mail (null MX, RFC 7505)"))
            case .loopsToSelf:
                return .end(Self.loopsBack(domain))
            case .tryHosts(let hosts):
                return .hosts(hosts.map { ($0, configuration.relayPort) }, credentials: nil)
            }
        } catch {
            switch error {
            case .nameNotFound:
                return .end(Reply(550, .init(5, 1, 2), "\(domain): domain not found (NXDOMAIN)"))
            case .temporary(let why):
                return .end(Reply(451, .init(4, 4, 3), "\(domain): \(why)"))
            }
        }
    }

    /// Mail whose best exchanger is this server would come back to it (RFC 5321 §5.1).
    static func loopsBack(_ domain: String) -> Reply {
        Reply(554, .init(5, 4, 6), "mail for \(domain) loops back to myself")
    }

    /// TLS contexts for relaying, made once (loading the trust store is not free); the verifying
    /// one again when a reload names other trusted CAs.
    let anyCertificate: NIOSSLContext
    private let verified: NIOLockedValueBox<(caFile: String?, context: NIOSSLContext)>

    var verifiedCertificate: NIOSSLContext {
        let caFile = configuration.tlsCAFile
        return verified.withLockedValue { current in
            if current.caFile != caFile, let context = try? TLSCredentials.clientContext(verify: true, trustedCAs: caFile) {
                current = (caFile, context)
            }
            return current.context
        }
    }

    /// One message's recipients for one destination.
    struct Job: Sendable {
        var envelope: Envelope
        var members: [Int]
    }

    private func deliver(_ envelope: Envelope, to domain: String, _ members: [Int]) async -> [Int: Outcome] {
        await batcher.submit(domain, Job(envelope: envelope, members: members))
    }

    private func message(_ job: Job) -> OutgoingMessage {
        let envelope = job.envelope
        let recipients: [OutgoingRecipient] = job.members.compactMap { i in
            guard case .remote(let m) = envelope.recipients[i].target else { return nil }  // grouped from remote ones only
            return OutgoingRecipient(m, notify: envelope.recipients[i].notify, originalRecipient: envelope.recipients[i].originalRecipientParameter)
        }
        return OutgoingMessage(
            reversePath: envelope.sender, recipients: recipients, size: envelope.size, eightBit: envelope.body == .eightBitMIME,
            needsSMTPUTF8: envelope.smtpUTF8 || !(envelope.sender.mailbox?.isASCII ?? true) || recipients.contains { !$0.mailbox.isASCII },
            ret: envelope.ret, envelopeID: envelope.envelopeID)
    }

    /// Delivers several messages for one destination over one connection; an outcome map per job.
    func deliverBatch(_ domain: String, _ jobs: [Job]) async -> [[Int: Outcome]] {
        let configuration = self.configuration
        let hosts: [(host: String, port: Int)]
        let credentials: ClientCredentials?
        switch await route(domain) {
        case .end(let reply): return jobs.map { all($0.members, RecipientOutcome(reply)) }
        case .hosts(let h, let c):
            hosts = h
            credentials = c
        }
        let messages = jobs.map(message)
        let timeouts = {
            var t = ClientTimeouts(all: .seconds(Int64(configuration.relayCommandTimeout)))
            t.connect = .seconds(Int64(configuration.relayConnectTimeout))
            t.dataTermination = .seconds(Int64(max(configuration.relayCommandTimeout, 600)))
            return t
        }()
        let envelopes = jobs.map(\.envelope)
        let level = configuration.tlsPolicy[domain] ?? configuration.relayTLS
        var lastProblem = Reply(451, .init(4, 4, 1), "\(domain): no exchanger could be reached")
        /// The last exchanger tried, for the log's `relay=` of a deferral.
        var lastRelay: String?
        // One attempt tries at most this many addresses and holds at most this many SMTP sessions
        // (Postfix's smtp_mx_address_limit and smtp_mx_session_limit): a domain with a thousand
        // MX records, or an MX with a thousand addresses, costs no more than a few.
        var addressesLeft = configuration.relayMXAddressLimit
        var sessionsLeft = configuration.relayMXSessionLimit
        let ourselves = LocalAddresses.listening(configuration)
        var skippedSelf = false
        hostLoop: for (host, port) in hosts {
            guard addressesLeft > 0, sessionsLeft > 0 else { break }
            var addresses: [String]
            if IPNetwork.parseAddress(host) != nil {
                addresses = [host]
            } else {
                do {
                    addresses = try await resolver.addresses(host)
                } catch {
                    lastProblem = Reply(451, .init(4, 4, 3), "\(host): \(error)")
                    continue
                }
                if addresses.isEmpty {
                    lastProblem = Reply(451, .init(4, 4, 4), "\(host): no address records")
                    continue
                }
            }
            // Our own listening address is no exchanger: that would be a loop to ourselves.
            let foreign = addresses.filter { !ourselves.contains(address: $0, port: port) }
            if foreign.count < addresses.count { skippedSelf = true }
            addresses = Array(foreign.prefix(addressesLeft))
            for address in addresses {
                guard sessionsLeft > 0 else { break hostLoop }
                addressesLeft -= 1
                let spool = self.spool
                let pool = self.threadPool
                let heloName = configuration.hostname
                let group = self.group
                let logger = self.logger
                let tls: ClientTLS?
                switch level {
                case .none: tls = nil
                case .may, .encrypt: tls = ClientTLS(context: anyCertificate, required: level == .encrypt, serverHostname: nil)
                case .verify:
                    tls = ClientTLS(
                        context: verifiedCertificate, required: true, serverHostname: IPNetwork.parseAddress(host) == nil ? host : nil)
                }
                let result = await slots.with {
                    await SMTPClient.deliver(
                        host: address, port: port, heloName: heloName, messages: messages, timeouts: timeouts,
                        tls: tls ?? (credentials != nil ? ClientTLS(context: anyCertificate, required: true, serverHostname: nil) : nil),
                        credentials: credentials, group: group, logger: logger
                    ) { index in try SpoolMessageReader(spool: spool, envelope: envelopes[index], threadPool: pool) }
                }
                let relay = "\(host)[\(address)]:\(port)"
                let queueIDs = envelopes.map(\.id).joined(separator: ",")
                lastRelay = relay
                if result.unreachable == nil { sessionsLeft -= 1 }
                if let problem = result.deferral(at: relay) {
                    lastProblem = problem
                    if let reason = result.unreachable {
                        logger.info(
                            "exchanger unreachable",
                            metadata: ["queue_id": .string(queueIDs), "relay": .string(relay), "reason": .string(reason)])
                    } else {
                        logger.info(
                            "exchanger not prepared",
                            metadata: ["queue_id": .string(queueIDs), "relay": .string(relay), "reply": .string((result.notPrepared ?? problem).description)])
                    }
                    continue
                }
                return jobs.enumerated().map { k, job in
                    let outcomes: [RecipientOutcome] =
                        result.outcomes[k] ?? job.members.map { _ in .deferred(Reply(451, .init(4, 3, 0), "no outcome for this message")) }
                    var r: [Int: Outcome] = [:]
                    for (n, i) in job.members.enumerated() { r[i] = Outcome(outcome: outcomes[n], relay: relay) }
                    return r
                }
            }
        }
        // Every exchanger was this server itself: a loop, not a delay.
        if skippedSelf && lastRelay == nil { return jobs.map { all($0.members, .failed(Self.loopsBack(domain))) } }
        // Nobody was prepared to take the mail: try again later (RFC 5321 §4.5.4.1).
        return jobs.map { all($0.members, .deferred(lastProblem), relay: lastRelay) }
    }
}

extension ClientResult {
    /// Why nothing was attempted at `relay` (`host[address]:port`), as a temporary failure of the
    /// recipients, or nil when the server was prepared. Only a server's refusal is quoted as what
    /// it "said"; a connection that failed reads as the system says it.
    func deferral(at relay: String) -> Reply? {
        if let reason = unreachable { return Reply(451, .init(4, 4, 1), "connect to \(relay): \(reason)") }
        guard let refusal = notPrepared else { return nil }
        let words = notPreparedCause == .refused ? "\(relay) said: \(refusal.text)" : "\(relay): \(refusal.text)"
        return Reply(refusal.code < 500 ? refusal.code : 451, refusal.enhancedCode.map { .init(4, $0.subject, $0.detail) }, words)
    }
}

/// Gathers deliveries for the same destination so that one connection carries several messages
/// (at most `maxMessages`), with at most `perDestination` connections to a destination at once.
/// Like the spool's group commit: whatever arrives while a connection is busy goes on the next.
actor DestinationBatcher {
    private struct Waiting {
        var job: RelayAgent.Job
        var continuation: CheckedContinuation<[Int: RelayAgent.Outcome], Never>
    }

    private var queues: [String: [Waiting]] = [:]
    private var active: [String: Int] = [:]
    private let perDestination: Int
    private let maxMessages: Int
    private let send: @Sendable (String, [RelayAgent.Job]) async -> [[Int: RelayAgent.Outcome]]

    init(perDestination: Int, maxMessages: Int, send: @escaping @Sendable (String, [RelayAgent.Job]) async -> [[Int: RelayAgent.Outcome]]) {
        self.perDestination = max(1, perDestination)
        self.maxMessages = max(1, maxMessages)
        self.send = send
    }

    func submit(_ destination: String, _ job: RelayAgent.Job) async -> [Int: RelayAgent.Outcome] {
        await withCheckedContinuation { continuation in
            queues[destination, default: []].append(Waiting(job: job, continuation: continuation))
            if active[destination, default: 0] < perDestination {
                active[destination, default: 0] += 1
                Task { await self.run(destination) }
            }
        }
    }

    private func take(_ destination: String) -> [Waiting] {
        var queue = queues[destination] ?? []
        let batch = Array(queue.prefix(maxMessages))
        queue.removeFirst(batch.count)
        queues[destination] = queue.isEmpty ? nil : queue
        if batch.isEmpty {
            let n = active[destination, default: 1] - 1
            active[destination] = n > 0 ? n : nil
        }
        return batch
    }

    private func run(_ destination: String) async {
        while true {
            let batch = take(destination)
            if batch.isEmpty { return }
            let results = await send(destination, batch.map(\.job))
            for (waiting, result) in zip(batch, results) { waiting.continuation.resume(returning: result) }
        }
    }
}
