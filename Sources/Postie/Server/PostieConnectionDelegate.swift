#if canImport(Glibc)
import Glibc
#endif
import Delivery
import Logging
import MailAuth
import MailCore
import NIOCore
import SMTPCore
import SMTPNIO
import Storage

/// The mail side of one SMTP connection: decides each recipient against the directory and the
/// relay policy, streams the message into the spool behind our `Received:` field, applies the
/// loop guard, and hands committed messages to the queue.
final class PostieConnectionDelegate: SMTPConnectionDelegate {
    private let context: PostieContext
    private let connection: SMTPConnectionInfo
    private let eventLoop: EventLoop
    /// The connection's logger (its `conn` and `client` metadata set by the handler).
    private var logger: Logger { connection.logger }
    /// Where each accepted RCPT goes.
    private var targets: [AcceptedRecipient: [Destination]] = [:]
    private var writer: SpoolWriter?
    private var scanner = HeaderScanner()
    /// The message has octets above 127, declared or not: it must not go to a peer without 8BITMIME.
    private var sawEightBit = false
    private var start: MessageStart?
    var onProgress: (() -> Void)?
    /// TLS version and cipher once TLS is up, for our `Received:` field.
    private var tlsDescription: String?
    /// The AUTH user of the message being received, for the log, and what it may send as.
    private var user: String?
    private var senders: SenderPolicy?
    /// Signs the message being received: mail from our users and trusted networks, when a
    /// domain has DKIM keys.
    private var signing: MessageSigning?
    /// The SPF check of the transaction's sender (strangers' mail), shared by its messages.
    private var spf: (sender: ReversePath, check: Task<SPFOutcome, Never>)?
    /// The checks of the message being received from a stranger.
    private var verification: MessageVerification?

    init(context: PostieContext, connection: SMTPConnectionInfo, eventLoop: EventLoop) {
        self.context = context
        self.connection = connection
        self.eventLoop = eventLoop
        context.metrics.connection(listener: context.listenerName(connection), outcome: "accepted")
    }

    /// Authenticated users and clients in the trusted networks may send anywhere.
    private func mayRelay(_ session: ServerSession, _ configuration: PostieConfiguration) -> Bool {
        session.authenticatedUser != nil || configuration.relay.trustedNetworks.contains { $0.contains(connection.remoteIP) }
    }

    /// Strangers' mail is checked (SPF, DKIM, DMARC, ARC); our users' and trusted networks' is not.
    private func verifies(_ session: ServerSession, _ configuration: PostieConfiguration) -> Bool {
        configuration.verify.enabled && !mayRelay(session, configuration)
    }

    /// The transaction's SPF check, started at its first recipient.
    private func spfCheck(_ sender: ReversePath, session: ServerSession, _ configuration: PostieConfiguration) -> Task<SPFOutcome, Never> {
        if let spf, spf.sender == sender { return spf.check }
        let check = MessageVerification.startSPF(
            settings: configuration.verify, resolver: context.resolver, client: connection.remoteIP, mailFrom: sender,
            helo: session.heloName ?? "", hostname: configuration.hostname)
        spf = (sender, check)
        return check
    }

    func authenticate(_ credentials: SASLCredentials, session: ServerSession) -> EventLoopFuture<AuthenticationOutcome> {
        let metrics = context.metrics
        return context.authenticator.authenticate(credentials, client: connection.remoteIP, eventLoop: eventLoop).map { outcome in
            if case .accepted = outcome { metrics.authentication(success: true) } else { metrics.authentication(success: false) }
            return outcome
        }
    }

    func checkRecipient(_ recipient: AcceptedRecipient, transaction: SessionTransaction, session: ServerSession) -> EventLoopFuture<Reply> {
        // Forget recipients of an earlier transaction (RSET, a new MAIL).
        targets = targets.filter { transaction.recipients.contains($0.key) }
        let address = recipient.path.description
        let snapshot = context.live.snapshot
        if snapshot.configuration.smtp.refuseStrangersWithLocalSenders, !mayRelay(session, snapshot.configuration),
            case .mailbox(let sender) = transaction.reversePath, snapshot.configuration.domains[sender.normalizedDomain] != nil
        {
            // Anyone can write our own domain as the sender; only our users and trusted networks may.
            context.metrics.recipient("local_sender")
            return eventLoop.makeSucceededFuture(
                Reply.Recipient.localSenderMustAuthenticate("\(sender)"))
        }
        if verifies(session, snapshot.configuration) {
            let check = spfCheck(transaction.reversePath, session: session, snapshot.configuration)
            let verify = snapshot.configuration.verify
            var domains: [String] = []
            if case .mailbox(let m) = recipient.path { domains = [m.normalizedDomain] }
            if verify.spfFail == .reject, verify.enforces(recipientDomains: domains) {
                // RFC 7208 §8.4: a fail may be refused; each recipient hears it (the result is shared).
                // The answer comes back on this connection's event loop, where the delegate lives.
                return eventLoop.makeFutureWithTask { await check.value }.assumeIsolated().flatMap { [self] outcome in
                    switch outcome.result {
                    case .fail:
                        context.metrics.recipient("spf_fail")
                        logger.notice("reject: SPF fail", metadata: ["to": .string(address), "spf": .string(outcome.reason ?? "")])
                        return eventLoop.makeSucceededFuture(
                            Reply.Authentication.spfFail(outcome.domain, outcome.explanation.map { HeaderText.singleLine(String($0.prefix(200))) }))
                    case .temperror:
                        context.metrics.recipient("spf_temperror")
                        return eventLoop.makeSucceededFuture(Reply.Authentication.spfTemporary(outcome.domain))
                    default:
                        return decideRecipient(recipient, session: session, snapshot: snapshot)
                    }
                }.nonisolated()
            }
        }
        return decideRecipient(recipient, session: session, snapshot: snapshot)
    }

    private func decideRecipient(_ recipient: AcceptedRecipient, session: ServerSession, snapshot: LiveConfiguration.Snapshot) -> EventLoopFuture<Reply> {
        let address = recipient.path.description
        let reply: Reply
        var path = recipient.path
        var mayRelay = mayRelay(session, snapshot.configuration)
        // A bounce to a sender we rewrote (SRS) goes back to the original sender, whoever sends
        // it; a forged or expired one is refused.
        if let srs = snapshot.delivery.srs, case .mailbox(let m) = path, m.normalizedDomain == srs.domain, SRS.isSRS(m.localPart) {
            do {
                let original = try srs.reverse(local: m.localPart, now: Int64(time(nil)))
                path = .mailbox(Mailbox(localPart: original.local, domain: original.domain))
                mayRelay = true
            } catch {
                context.metrics.recipient("bad_srs")
                logger.notice("reject: SRS address", metadata: ["to": .string(address), "reason": .string(error.description)])
                return eventLoop.makeSucceededFuture(Reply.Recipient.badSRS(address, error.description))
            }
        }
        switch RecipientPolicy.decide(path, directory: snapshot.directory, mayRelay: mayRelay) {
        case .accept(let destinations):
            targets[recipient] = destinations
            reply = Reply.Transaction.recipientOk
            context.metrics.recipient("accepted")
        case .refuse(.relayDenied):
            reply = Reply.Recipient.relayDenied(address)
            context.metrics.recipient("relay_denied")
        case .refuse(.unknownUser):
            reply = Reply.Recipient.unknownUser(address)
            context.metrics.recipient("unknown_user")
        case .refuse(.unsafe):
            reply = Reply.Recipient.localPartNotAllowed(address)
            context.metrics.recipient("bad_local_part")
        case .refuse(.aliasLoop):
            reply = Reply.Recipient.aliasLoop(address)
            context.metrics.recipient("alias_loop")
        }
        return eventLoop.makeSucceededFuture(reply)
    }

    func beginMessage(_ start: MessageStart, session: ServerSession) {
        let writer = context.spool.makeWriter(eventLoop: eventLoop)
        writer.onProgress = { [weak self] _ in self?.onProgress?() }
        self.writer = writer
        self.start = start
        user = session.authenticatedUser
        senders = session.identity?.senders
        scanner = HeaderScanner()
        sawEightBit = false
        let snapshot = context.live.snapshot
        let configuration = snapshot.configuration
        if verifies(session, configuration) {
            // Enforced when every recipient's domain enforces (`[domains."x"] verify`).
            var settings = configuration.verify
            settings.enforce = settings.enforces(recipientDomains: start.transaction.recipients.compactMap { r in
                if case .mailbox(let m) = r.path { return m.normalizedDomain }
                return nil
            })
            verification = MessageVerification(
                settings: settings, resolver: context.resolver, hostname: configuration.hostname,
                spf: spfCheck(start.transaction.reversePath, session: session, configuration))
        } else {
            verification = nil
        }
        if mayRelay(session, configuration) {
            signing = MessageSigning(configuration.dkim, writer: writer)
        } else if let domain = forwardingDomain(start.transaction, snapshot) {
            // A stranger's mail that an alias of ours sends on elsewhere: sealed, so that the
            // receiver can trust what we saw when it came in (the results, once known; until
            // then text as long as they may be plans the room).
            let planned = verification == nil ? "arc=none" : String(repeating: "x", count: MessageVerification.prefixBudget)
            signing = MessageSigning(
                sealingFor: domain, configuration.dkim, hostname: configuration.hostname, results: planned, writer: writer)
        } else {
            signing = nil
        }
        if verification != nil {
            // A message too large for memory keeps room for the results (and any seal) first.
            writer.roomForPrefix = { [weak self] in
                guard let self else { return 0 }
                return (self.signing?.plannedLength ?? 0) + MessageVerification.prefixBudget
            }
        }
        let single: String? =
            start.transaction.recipients.count == 1 ? start.transaction.recipients[0].path.address : nil
        let hop = TraceHeaders.Hop(
            heloName: start.heloName, clientAddress: connection.remoteIP, byHostname: context.live.snapshot.configuration.hostname,
            protocolName: start.protocolName, tls: tlsDescription, queueID: writer.queueID, singleRecipient: single,
            unixTime: Int64(time(nil)))
        writer.write(ByteBuffer(string: TraceHeaders.received(hop)))
    }

    func messageData(_ data: ByteBuffer) {
        // Forged results claiming our name are taken out before anything else reads the message.
        let data = verification?.update(data) ?? data
        scanner.scan(data)
        signing?.update(data)
        if !sawEightBit { sawEightBit = data.withUnsafeReadableBytes(OctetScan.containsEightBit) }
        writer?.write(data)
    }

    var bufferedMessageBytes: Int { writer?.outstandingBytes ?? 0 }

    func commitMessage() -> EventLoopFuture<Reply> {
        guard let writer, let start else {
            return eventLoop.makeSucceededFuture(Reply.Transaction.noMessageInProgress)
        }
        self.writer = nil
        self.start = nil
        let verification = self.verification
        self.verification = nil
        if let rest = verification?.endOfData() {
            scanner.scan(rest)
            signing?.update(rest)
            writer.write(rest)
        }
        let tx = start.transaction
        if scanner.receivedCount > context.live.snapshot.configuration.smtp.maxReceivedHeaders {
            writer.abort()
            context.metrics.messageRefused("too_many_hops")
            logger.notice(
                "reject: too many hops",
                metadata: ["queue_id": .string(writer.queueID), "received": "\(scanner.receivedCount)"])
            return eventLoop.makeSucceededFuture(Reply.Transaction.tooManyHops)
        }
        if let refusal = headerFromRefusal() {
            writer.abort()
            context.metrics.messageRefused("header_from")
            logger.notice(
                "reject: From header not the user's", metadata: ["queue_id": .string(writer.queueID), "user": .string(user ?? "")])
            return eventLoop.makeSucceededFuture(refusal)
        }
        // Checked (strangers' mail), signed (on the thread pool when that is slow), then committed.
        let signed: EventLoopFuture<Prepared>
        if let verification {
            let (room, queueID, logger, signing) = (writer.reservedPrefix, writer.queueID, logger, self.signing)
            signed = eventLoop.makeFutureWithTask {
                let verdict = await verification.finish()
                if case .refuse(let reply) = verdict.action { return Prepared(refusal: reply, verdict: verdict) }
                var results = verdict.results.field(maxLength: MessageVerification.prefixBudget - 40)
                // Tagged either way: copies that go over LMTP or elsewhere carry the mark too.
                if case .quarantine = verdict.action { results = Array("X-Spam-Flag: YES\r\n".utf8) + results }
                // A seal (for mail we forward) goes on top: it is the last thing added.
                let seal = signing?.fields(queueID: queueID, logger: logger, results: verdict.results.results, chain: verdict.results.arc)
                return Prepared(
                    prefix: Self.assemble(seal?.fields ?? [], above: results, room: room, logger: logger, queueID: queueID), log: seal?.log,
                    verdict: verdict)
            }
        } else if let signing, signing.isSlow {
            let (room, queueID, logger) = (writer.reservedPrefix, writer.queueID, logger)
            signed = context.threadPool.runIfActive(eventLoop: eventLoop) { signing.finish(room: room, queueID: queueID, logger: logger) }
                .map { Prepared(prefix: $0.prefix, log: $0.log) }
        } else {
            signed = eventLoop.makeSucceededFuture(Prepared(signing?.finish(writer, logger: logger)))
        }
        signing = nil
        var recipients: [EnvelopeRecipient] = []
        for r in tx.recipients {
            RecipientPolicy.add(
                targets[r] ?? [], original: r.path.description, notify: r.parameters.notify,
                originalRecipient: r.parameters.originalRecipient, to: &recipients)
        }
        targets = [:]
        let envelopeRecipients = recipients
        let eightBit = sawEightBit
        let client = connection.remoteIP
        let arrival = Int64(time(nil))
        var userLogger = self.logger
        if let user { userLogger[metadataKey: "user"] = .string(user) }
        let logger = userLogger
        let queue = context.queue
        let removedFields = verification?.removedFields ?? 0
        let metrics = context.metrics
        let quarantineMode = context.live.snapshot.configuration.verify.quarantine
        return signed.flatMap { [eventLoop] signed in
            if let verdict = signed.verdict { Self.count(verdict, metrics) }
            if let refusal = signed.refusal {
                metrics.messageRefused("authentication")
                writer.abort()
                var metadata: Logger.Metadata = ["queue_id": .string(writer.queueID), "from": .string(tx.reversePath.description)]
                if let verdict = signed.verdict { Self.addResults(verdict, removedFields: removedFields, to: &metadata) }
                logger.notice("reject: authentication", metadata: metadata)
                return eventLoop.makeSucceededFuture(refusal)
            }
            // Local copies of a quarantined message go to the Junk folders (`quarantine = "junk"`).
            var junk = false
            if let verdict = signed.verdict, case .quarantine = verdict.action, quarantineMode == .junk { junk = true }
            let quarantined = junk
            return writer.commit(prefix: signed.prefix) { id, size in
                Envelope(
                    id: id, arrivalTime: arrival, size: size, sender: tx.reversePath, clientAddress: client, heloName: start.heloName,
                    protocolName: start.protocolName, body: eightBit ? .eightBitMIME : tx.parameters.body, smtpUTF8: tx.parameters.smtpUTF8,
                    ret: tx.parameters.ret,
                    envelopeID: tx.parameters.envelopeID, recipients: envelopeRecipients, quarantined: quarantined)
            }.map { committed -> Reply in
                let envelope = committed.envelope
                // The 250 goes out first (the handler writes it when this future completes); the log
                // line and the hand-off to the queue follow in the loop's next task, in order.
                eventLoop.execute {
                    var metadata: Logger.Metadata = [
                        "queue_id": .string(envelope.id), "from": .string(envelope.sender.description),
                        "to": .string(tx.recipients.map(\.path.description).joined(separator: ",")), "size": "\(envelope.size)",
                        "nrcpt": "\(tx.recipients.count)", "proto": .string(start.protocolName), "helo": .string(start.heloName),
                    ]
                    if let log = signed.log { metadata[log.key] = .string(log.value) }
                    if let verdict = signed.verdict { Self.addResults(verdict, removedFields: removedFields, to: &metadata) }
                    logger.info("queued", metadata: metadata)
                    metrics.received.increment()
                    metrics.receivedOctets.increment(by: Int64(envelope.size))
                    queue.enqueue(envelope, octets: committed.message, fresh: true)
                }
                return Reply.Transaction.queued(envelope.id)
            }
        }.flatMapErrorThrowing { [spoolRoot = context.spool.layout.root] error in
            if let storage = error as? StorageError, storage.isOutOfSpace {
                // Not the client's fault, and not "local error": it is told to come back later,
                // and the operator which file system to look at.
                logger.error(
                    "cannot store message: file system full",
                    metadata: [
                        "queue_id": .string(writer.queueID), "file_system": .string(POSIXFile.mountPoint(of: spoolRoot)),
                        "error": .string("\(error)"),
                    ])
                metrics.messageRefused("storage_full")
                return Reply.Transaction.insufficientStorage
            }
            logger.error("cannot store message", metadata: ["queue_id": .string(writer.queueID), "error": .string("\(error)")])
            throw error
        }
    }

    /// What the commit needs: the fields to put before the message and what the log says of
    /// them, or the reply that refuses it; and the checks' verdict, if any.
    struct Prepared: Sendable {
        var prefix: [UInt8] = []
        var log: (key: String, value: String)?
        var refusal: Reply?
        var verdict: MessageVerification.Verdict?

        init(prefix: [UInt8] = [], log: (key: String, value: String)? = nil, refusal: Reply? = nil, verdict: MessageVerification.Verdict? = nil) {
            self.prefix = prefix
            self.log = log
            self.refusal = refusal
            self.verdict = verdict
        }

        init(_ signed: (prefix: [UInt8], log: (key: String, value: String))?) {
            self.init(prefix: signed?.prefix ?? [], log: signed?.log)
        }
    }

    /// Each method's result, counted.
    static func count(_ verdict: MessageVerification.Verdict, _ metrics: PostieMetrics) {
        let r = verdict.results
        if let spf = r.spf { metrics.verification(method: "spf", result: spf.result.rawValue) }
        if r.dkim.isEmpty { metrics.verification(method: "dkim", result: "none") }
        for d in r.dkim { metrics.verification(method: "dkim", result: d.verdict.rawValue) }
        if let dmarc = r.dmarc { metrics.verification(method: "dmarc", result: dmarc.result.rawValue) }
        if let arc = r.arc { metrics.verification(method: "arc", result: arc.result.rawValue) }
    }

    /// The results on the `queued` (or `reject`) line: `spf=pass dkim=pass dmarc=pass arc=none`.
    static func addResults(_ verdict: MessageVerification.Verdict, removedFields: Int, to metadata: inout Logger.Metadata) {
        let r = verdict.results
        if let spf = r.spf { metadata["spf"] = .string(spf.result.rawValue) }
        metadata["dkim"] = .string(r.dkim.isEmpty ? "none" : r.dkim.map(\.verdict.rawValue).joined(separator: ","))
        if let dmarc = r.dmarc {
            metadata["dmarc"] = .string(dmarc.result.rawValue)
            if let p = dmarc.requestedPolicy, dmarc.result == .fail { metadata["dmarc_policy"] = .string(p.rawValue) }
        }
        if let arc = r.arc { metadata["arc"] = .string(arc.result.rawValue) }
        if case .quarantine = verdict.action { metadata["quarantine"] = "dmarc" }
        if removedFields > 0 { metadata["removed_results"] = "\(removedFields)" }
    }

    /// A message's prefix, a signature above fields, made to fill the room a streamed message
    /// left (`room`; 0: none was left): padded with a filler field, or without the signature when
    /// that does not fit (then sent unsigned), or a filler alone.
    static func assemble(_ signature: [UInt8], above fields: [UInt8], room: Int, logger: Logger, queueID: String) -> [UInt8] {
        let whole = signature + fields
        guard room > 0 else { return whole }
        for candidate in [whole, fields] {
            if candidate.count == room { return candidate }
            if room - candidate.count >= 20 { return candidate + MessageSigner.filler(octets: room - candidate.count) }
        }
        logger.error("the results and signature did not fit the room left for them", metadata: ["queue_id": .string(queueID)])
        return MessageSigner.filler(octets: room)
    }

    /// The local domain of the first accepted recipient that an alias or catch-all sends on to
    /// another machine, if any.
    private func forwardingDomain(_ transaction: SessionTransaction, _ snapshot: LiveConfiguration.Snapshot) -> String? {
        guard !snapshot.configuration.dkim.domains.isEmpty else { return nil }
        for r in transaction.recipients {
            guard case .mailbox(let m) = r.path else { continue }
            if let domain = (targets[r] ?? []).lazy.compactMap({ snapshot.directory.forwardingDomain(of: m, to: $0) }).first {
                return domain
            }
        }
        return nil
    }

    /// An authenticated user's `From:` must name addresses the user may send as (`auth.header_from`).
    private func headerFromRefusal() -> Reply? {
        guard let senders, !senders.unrestricted, context.live.snapshot.configuration.auth.restrictHeaderFrom else { return nil }
        if scanner.fromTooLong { return Reply.HeaderFrom.tooLong }
        for value in scanner.fromValues {
            for address in MessageHeaders.addresses(in: value) {
                guard let mailbox = Mailbox.parse(address), senders.permits(.mailbox(mailbox)) else {
                    return Reply.HeaderFrom.notYours(HeaderText.singleLine(address))
                }
            }
        }
        return nil
    }

    func abortMessage() {
        signing = nil
        verification = nil
        if let writer {
            logger.info("message abandoned", metadata: ["queue_id": .string(writer.queueID)])
            writer.abort()
        }
        writer = nil
        start = nil
    }

    func replied(_ reply: Reply) {
        context.metrics.reply(code: reply.code, enhanced: reply.enhancedCode?.description)
    }

    func commandsRead(_ tally: CommandTally, since earlier: CommandTally) {
        context.metrics.commands(tally, since: earlier)
    }

    func limitReached(_ limit: SessionLimit) {
        context.metrics.limitHit(limit.rawValue)
    }

    func tlsEstablished(version: String?, cipher: String?) {
        context.metrics.tlsSession(version: version ?? "unknown")
        tlsDescription = "version=\(version ?? "unknown")" + (cipher.map { " cipher=\($0)" } ?? "")
    }

    func connectionClosed() {
        abortMessage()
    }
}
