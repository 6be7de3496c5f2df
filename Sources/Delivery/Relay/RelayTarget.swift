import Foundation
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
/// share a destination, and messages for the same destination one after another
/// (`DestinationBatcher`); each message's outcomes are reported as soon as its transaction ends,
/// so that the queue makes them durable before the connection carries the next one.
public final class RelayTarget: DeliveryTarget {
    let settings: @Sendable () -> DeliverySettings
    let resolver: DNSResolver
    private let observeSession: (@Sendable (String) -> Void)?
    let spool: Spool
    let threadPool: NIOThreadPool
    let group: EventLoopGroup
    let logger: Logger
    let slots: ConnectionSlots
    private let batcherBox = NIOLockedValueBox<DestinationBatcher?>(nil)

    private var batcher: DestinationBatcher {
        batcherBox.withLockedValue { box in
            if let b = box { return b }
            let relay = settings().relay
            let b = DestinationBatcher(perDestination: relay.maxConnectionsPerDestination, maxMessages: relay.maxMessagesPerConnection) {
                [weak self] domain, jobs in
                guard let self else {
                    for job in jobs { job.completion(TargetOutcomes(job.members, DeliveryVerdicts.shuttingDown)) }
                    return
                }
                await self.deliverBatch(domain, jobs)
            }
            box = b
            return b
        }
    }

    /// `settings` is read once per destination and attempt (a reload applies from the next).
    /// `observeSession` hears how each outbound connection went (`session`: a server took part
    /// in a transaction; `unreachable`; `not_prepared`: it refused to take mail), for metrics.
    public init(
        settings: @escaping @Sendable () -> DeliverySettings, resolver: DNSResolver, spool: Spool, threadPool: NIOThreadPool,
        group: EventLoopGroup, logger: Logger, observeSession: (@Sendable (String) -> Void)? = nil
    ) throws {
        self.observeSession = observeSession
        let relay = settings().relay
        anyCertificate = try Self.clientContext(verify: false)
        verified = NIOLockedValueBox((relay.tlsCAFile, try Self.clientContext(verify: true, trustedCAs: relay.tlsCAFile)))
        self.settings = settings
        self.resolver = resolver
        self.spool = spool
        self.threadPool = threadPool
        self.group = group
        self.logger = logger
        // Per destination, the batcher limits connections; here only the total counts.
        self.slots = ConnectionSlots(total: relay.maxConnections)
    }

    /// For relaying: opportunistic TLS accepts any certificate (RFC 7435); a required TLS policy
    /// verifies it.
    static func clientContext(verify: Bool, trustedCAs: String? = nil) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = verify ? .fullVerification : .none
        if verify, let trustedCAs { config.trustRoots = .file(trustedCAs) }
        return try NIOSSLContext(configuration: config)
    }

    /// Delivers the remote recipients, a connection per destination domain; answers once all
    /// domains have. A destination's forwarded recipients (an alias of ours pointing there) go
    /// in a transaction of their own, with the sender rewritten by SRS.
    public func deliver(_ message: QueuedMessage, to recipients: [RecipientID], completion: @escaping @Sendable (TargetOutcomes) -> Void) {
        let envelope = message.envelope
        let settings = self.settings()
        // Computed once a message (an HMAC), for the recipients that are forwards.
        let srsSender = settings.forwardingSender(envelope, now: Int64(Date().timeIntervalSince1970))
        struct Group: Hashable {
            var domain: String
            var sender: ReversePath?
        }
        var groups: [Group: [RecipientID]] = [:]
        var unroutable: [RecipientID] = []
        for id in recipients {
            guard case .remote(let m) = envelope[id].target else {
                unroutable.append(id)
                continue
            }
            let sender = srsSender != nil && settings.isForwarded(envelope[id]) ? srsSender : nil
            groups[Group(domain: m.normalizedDomain, sender: sender), default: []].append(id)
        }
        let notRemote = TargetOutcomes(unroutable, DeliveryVerdicts.notRemote)
        let join = OutcomeJoin(parts: groups.count, initial: notRemote, completion: completion)
        for (group, members) in groups {
            batcher.submit(group.domain, Job(envelope: envelope, members: members, sender: group.sender, completion: join.add))
        }
    }

    /// The hosts to try for a domain, with their port, or the outcome that ends the attempt.
    enum Route {
        case hosts([HostAndPort], credentials: ClientCredentials?)
        case end(DeliveryStatus)
    }

    private func route(_ domain: String, _ relay: RelaySettings, ourName: String) async -> Route {
        if domain.hasPrefix("[") && domain.hasSuffix("]") {
            var literal = String(domain.dropFirst().dropLast())
            if literal.lowercased().hasPrefix("ipv6:") { literal = String(literal.dropFirst(5)) }
            return .hosts([HostAndPort(host: literal, port: relay.port)], credentials: nil)
        }
        if let r = relay.routes[domain] { return .hosts([r], credentials: nil) }
        if let s = relay.smarthost { return .hosts([s], credentials: relay.smarthostCredentials) }
        do {
            let records = try await resolver.mx(domain)
            switch ExchangerOrder.decide(
                domain: domain, records: records.map { ($0.preference, $0.exchange) }, ourName: ourName, random: { Int.random(in: 0..<$0) })
            {
            case .nullMX:
                return .end(DeliveryVerdicts.nullMX(domain))
            case .loopsToSelf:
                return .end(DeliveryVerdicts.loopsBack(domain))
            case .tryHosts(let hosts):
                return .hosts(hosts.map { HostAndPort(host: $0, port: relay.port) }, credentials: nil)
            }
        } catch {
            switch error {
            case .nameNotFound:
                return .end(DeliveryVerdicts.domainNotFound(domain))
            case .temporary(let why):
                return .end(DeliveryVerdicts.dnsProblem(domain, why))
            }
        }
    }

    /// TLS contexts for relaying, made once (loading the trust store is not free); the verifying
    /// one again when a reload names other trusted CAs.
    let anyCertificate: NIOSSLContext
    private let verified: NIOLockedValueBox<(caFile: String?, context: NIOSSLContext)>

    func verifiedCertificate(_ caFile: String?) -> NIOSSLContext {
        verified.withLockedValue { current in
            if current.caFile != caFile, let context = try? Self.clientContext(verify: true, trustedCAs: caFile) {
                current = (caFile, context)
            }
            return current.context
        }
    }

    /// One message's recipients for one destination, and where their outcomes go.
    struct Job: Sendable {
        var envelope: Envelope
        var members: [RecipientID]
        /// The sender to use instead of the envelope's (SRS for forwarded mail).
        var sender: ReversePath? = nil
        var completion: @Sendable (TargetOutcomes) -> Void
    }

    private func message(_ job: Job) -> OutgoingMessage {
        let envelope = job.envelope
        let recipients: [OutgoingRecipient] = job.members.compactMap { id in
            guard case .remote(let m) = envelope[id].target else { return nil }  // grouped from remote ones only
            return OutgoingRecipient(m, notify: envelope[id].notify, originalRecipient: envelope[id].originalRecipientParameter)
        }
        var message = OutgoingMessage(envelope, to: recipients)
        if let sender = job.sender { message.reversePath = sender }
        return message
    }

    /// Delivers several messages for one destination over one connection; each job's completion
    /// is called once, as soon as its outcomes are known.
    func deliverBatch(_ domain: String, _ jobs: [Job]) async {
        let settings = self.settings()
        let relay = settings.relay
        let hosts: [HostAndPort]
        let credentials: ClientCredentials?
        switch await route(domain, relay, ourName: settings.hostname) {
        case .end(let status):
            for job in jobs { job.completion(TargetOutcomes(job.members, status)) }
            return
        case .hosts(let h, let c):
            hosts = h
            credentials = c
        }
        let messages = jobs.map(message)
        let envelopes = jobs.map(\.envelope)
        let level = relay.tls(for: domain)
        var lastProblem = DeliveryVerdicts.noExchanger(domain)
        /// The last exchanger tried, for the log's `relay=` of a deferral.
        var lastRelay: String?
        // One attempt tries at most this many addresses and holds at most this many SMTP sessions
        // (Postfix's smtp_mx_address_limit and smtp_mx_session_limit): a domain with a thousand
        // MX records, or an MX with a thousand addresses, costs no more than a few.
        var addressesLeft = relay.mxAddressLimit
        var sessionsLeft = relay.mxSessionLimit
        let ourselves = LocalAddresses.listening(settings.ownListeners)
        var skippedSelf = false
        hostLoop: for exchanger in hosts {
            let (host, port) = (exchanger.host, exchanger.port)
            guard addressesLeft > 0, sessionsLeft > 0 else { break }
            var addresses: [String]
            if IPNetwork.parseAddress(host) != nil {
                addresses = [host]
            } else {
                do {
                    addresses = try await resolver.addresses(host)
                } catch {
                    lastProblem = DeliveryVerdicts.dnsProblem(host, "\(error)")
                    continue
                }
                if addresses.isEmpty {
                    lastProblem = DeliveryVerdicts.noAddress(host)
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
                let (spool, pool, group, logger) = (self.spool, self.threadPool, self.group, self.logger)
                let tls: ClientTLS?
                switch level {
                case .none: tls = nil
                case .may, .encrypt: tls = ClientTLS(context: anyCertificate, required: level == .encrypt, serverHostname: nil)
                case .verify:
                    tls = ClientTLS(
                        context: verifiedCertificate(relay.tlsCAFile), required: true,
                        serverHostname: IPNetwork.parseAddress(host) == nil ? host : nil)
                }
                let relayName = "\(host)[\(address)]:\(port)"
                // Each message's outcomes go to its job as soon as the server gives them.
                let told = NIOLockedValueBox(Set<Int>())
                let result = await slots.with {
                    await SMTPClient.deliver(
                        to: .tcp(host: address, port: port), heloName: settings.hostname, messages: messages, timeouts: relay.timeouts,
                        tls: tls ?? (credentials != nil ? ClientTLS(context: anyCertificate, required: true, serverHostname: nil) : nil),
                        credentials: credentials, group: group, logger: logger,
                        openReader: { index in try SpoolMessageReader(spool: spool, envelope: envelopes[index], threadPool: pool) },
                        messageFinished: { index, outcomes in
                            guard told.withLockedValue({ $0.insert(index).inserted }) else { return }
                            jobs[index].completion(TargetOutcomes(jobs[index].members, outcomes, relay: relayName))
                        })
                }
                await spool.keepTrace(of: result, for: envelopes.map(\.id), at: relayName, threadPool: pool)
                let queueIDs = envelopes.map(\.id).joined(separator: ",")
                lastRelay = relayName
                if result.unreachable == nil { sessionsLeft -= 1 }
                observeSession?(result.unreachable != nil ? "unreachable" : result.notPrepared != nil ? "not_prepared" : "session")
                if let problem = result.deferral(at: relayName) {
                    lastProblem = problem
                    if let reason = result.unreachable {
                        logger.info(
                            "exchanger unreachable",
                            metadata: ["queue_id": .string(queueIDs), "relay": .string(relayName), "reason": .string(reason)])
                    } else {
                        logger.info(
                            "exchanger not prepared",
                            metadata: [
                                "queue_id": .string(queueIDs), "relay": .string(relayName),
                                "reply": .string(result.notPrepared?.description ?? problem.description),
                            ])
                    }
                    // Whatever this server took before it stopped being prepared stays taken.
                    if told.withLockedValue({ $0.isEmpty }) { continue }
                }
                let untold = told.withLockedValue { t in jobs.indices.filter { !t.contains($0) } }
                for k in untold { jobs[k].completion(TargetOutcomes(jobs[k].members, result.outcomes[k] ?? [], relay: relayName)) }
                return
            }
        }
        // Every exchanger was this server itself: a loop, not a delay.
        if skippedSelf && lastRelay == nil {
            for job in jobs { job.completion(TargetOutcomes(job.members, DeliveryVerdicts.loopsBack(domain))) }
            return
        }
        // Nobody was prepared to take the mail: try again later (RFC 5321 §4.5.4.1).
        for job in jobs { job.completion(TargetOutcomes(job.members, lastProblem, relay: lastRelay)) }
    }
}

extension ClientResult {
    /// Why nothing was attempted at `relay` (`host[address]:port`), as a temporary failure of the
    /// recipients, or nil when the server was prepared. Only a server's refusal is quoted as what
    /// it "said"; a connection that failed reads as the system says it.
    func deferral(at relay: String) -> DeliveryStatus? {
        if let reason = unreachable { return DeliveryVerdicts.unreachable(relay, reason) }
        guard let refusal = notPrepared else { return nil }
        let words = notPreparedCause == .refused ? "\(relay) said: \(refusal.description)" : "\(relay): \(refusal.text)"
        return .deferred(refusal.enhancedCode ?? .init(4, 0, 0), words)
    }
}

/// Gathers deliveries for the same destination so that one connection carries several messages
/// (at most `maxMessages`), with at most `perDestination` connections to a destination at once:
/// a `BatchGate` per destination, whose batches are connections. Whatever arrives while the
/// connections are busy goes on the next.
actor DestinationBatcher {
    private var gates: [String: BatchGate<RelayTarget.Job>] = [:]
    private let perDestination: Int
    private let maxMessages: Int
    /// Delivers a batch; calls each job's completion.
    private let send: @Sendable (String, [RelayTarget.Job]) async -> Void

    init(perDestination: Int, maxMessages: Int, send: @escaping @Sendable (String, [RelayTarget.Job]) async -> Void) {
        self.perDestination = max(1, perDestination)
        self.maxMessages = max(1, maxMessages)
        self.send = send
    }

    nonisolated func submit(_ destination: String, _ job: RelayTarget.Job) {
        Task { await enqueue(destination, job) }
    }

    private func enqueue(_ destination: String, _ job: RelayTarget.Job) {
        var gate = gates.removeValue(forKey: destination) ?? BatchGate(limit: perDestination, maxBatch: maxMessages)
        let startRunner = gate.add(job)
        gates[destination] = gate
        if startRunner { Task { await self.run(destination) } }
    }

    /// A connection's next batch: what waits for the destination (what came since the runner was
    /// started goes with its first); nil when nothing does. A destination with nothing left is
    /// forgotten.
    private func take(_ destination: String) -> [RelayTarget.Job]? {
        guard var gate = gates.removeValue(forKey: destination) else { return nil }
        let batch = gate.take()
        if !gate.isIdle { gates[destination] = gate }
        return batch
    }

    private func run(_ destination: String) async {
        while let batch = take(destination) {
            await send(destination, batch)
        }
    }
}
