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

    init(context: PostieContext, connection: SMTPConnectionInfo, eventLoop: EventLoop) {
        self.context = context
        self.connection = connection
        self.eventLoop = eventLoop
    }

    /// Authenticated users and clients in the trusted networks may send anywhere.
    private func mayRelay(_ session: ServerSession, _ configuration: PostieConfiguration) -> Bool {
        session.authenticatedUser != nil || configuration.relay.trustedNetworks.contains { $0.contains(connection.remoteIP) }
    }

    func authenticate(_ credentials: SASLCredentials, session: ServerSession) -> EventLoopFuture<AuthenticationOutcome> {
        context.authenticator.authenticate(credentials, client: connection.remoteIP, eventLoop: eventLoop)
    }

    func checkRecipient(_ recipient: AcceptedRecipient, transaction: SessionTransaction, session: ServerSession) -> EventLoopFuture<Reply> {
        // Forget recipients of an earlier transaction (RSET, a new MAIL).
        targets = targets.filter { transaction.recipients.contains($0.key) }
        let address = recipient.path.description
        let reply: Reply
        let snapshot = context.live.snapshot
        if snapshot.configuration.smtp.refuseStrangersWithLocalSenders, !mayRelay(session, snapshot.configuration),
            case .mailbox(let sender) = transaction.reversePath, snapshot.configuration.domains[sender.normalizedDomain] != nil
        {
            // Anyone can write our own domain as the sender; only our users and trusted networks may.
            return eventLoop.makeSucceededFuture(
                Reply.Recipient.localSenderMustAuthenticate("\(sender)"))
        }
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
                logger.notice("reject: SRS address", metadata: ["to": .string(address), "reason": .string(error.description)])
                return eventLoop.makeSucceededFuture(Reply.Recipient.badSRS(address, error.description))
            }
        }
        switch RecipientPolicy.decide(path, directory: snapshot.directory, mayRelay: mayRelay) {
        case .accept(let destinations):
            targets[recipient] = destinations
            reply = Reply.Transaction.recipientOk
        case .refuse(.relayDenied):
            reply = Reply.Recipient.relayDenied(address)
        case .refuse(.unknownUser):
            reply = Reply.Recipient.unknownUser(address)
        case .refuse(.unsafe):
            reply = Reply.Recipient.localPartNotAllowed(address)
        case .refuse(.aliasLoop):
            reply = Reply.Recipient.aliasLoop(address)
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
        if mayRelay(session, configuration) {
            signing = MessageSigning(configuration.dkim, writer: writer)
        } else if let domain = forwardingDomain(start.transaction, snapshot) {
            // A stranger's mail that an alias of ours sends on elsewhere: sealed, so that the
            // receiver can trust what we saw when it came in.
            signing = MessageSigning(
                sealingFor: domain, configuration.dkim, hostname: configuration.hostname, results: "arc=none", writer: writer)
        } else {
            signing = nil
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
        let tx = start.transaction
        if scanner.receivedCount > context.live.snapshot.configuration.smtp.maxReceivedHeaders {
            writer.abort()
            logger.notice(
                "reject: too many hops",
                metadata: ["queue_id": .string(writer.queueID), "received": "\(scanner.receivedCount)"])
            return eventLoop.makeSucceededFuture(Reply.Transaction.tooManyHops)
        }
        if let refusal = headerFromRefusal() {
            writer.abort()
            logger.notice(
                "reject: From header not the user's", metadata: ["queue_id": .string(writer.queueID), "user": .string(user ?? "")])
            return eventLoop.makeSucceededFuture(refusal)
        }
        // Signed (on the thread pool when that is slow), then committed.
        let signed: EventLoopFuture<(prefix: [UInt8], log: (key: String, value: String))?>
        if let signing, signing.isSlow {
            let (room, queueID, logger) = (writer.reservedPrefix, writer.queueID, logger)
            signed = context.threadPool.runIfActive(eventLoop: eventLoop) { signing.finish(room: room, queueID: queueID, logger: logger) }
                .map { Optional($0) }
        } else {
            signed = eventLoop.makeSucceededFuture(signing?.finish(writer, logger: logger))
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
        return signed.flatMap { [eventLoop] signed in
            writer.commit(prefix: signed?.prefix ?? []) { id, size in
                Envelope(
                    id: id, arrivalTime: arrival, size: size, sender: tx.reversePath, clientAddress: client, heloName: start.heloName,
                    protocolName: start.protocolName, body: eightBit ? .eightBitMIME : tx.parameters.body, smtpUTF8: tx.parameters.smtpUTF8,
                    ret: tx.parameters.ret,
                    envelopeID: tx.parameters.envelopeID, recipients: envelopeRecipients)
            }.map { committed in
                let envelope = committed.envelope
                // The 250 goes out first (the handler writes it when this future completes); the log
                // line and the hand-off to the queue follow in the loop's next task, in order.
                eventLoop.execute {
                    var metadata: Logger.Metadata = [
                        "queue_id": .string(envelope.id), "from": .string(envelope.sender.description),
                        "to": .string(tx.recipients.map(\.path.description).joined(separator: ",")), "size": "\(envelope.size)",
                        "nrcpt": "\(tx.recipients.count)", "proto": .string(start.protocolName), "helo": .string(start.heloName),
                    ]
                    if let log = signed?.log { metadata[log.key] = .string(log.value) }
                    logger.info("queued", metadata: metadata)
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
                return Reply.Transaction.insufficientStorage
            }
            logger.error("cannot store message", metadata: ["queue_id": .string(writer.queueID), "error": .string("\(error)")])
            throw error
        }
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
        if let writer {
            logger.info("message abandoned", metadata: ["queue_id": .string(writer.queueID)])
            writer.abort()
        }
        writer = nil
        start = nil
    }

    func tlsEstablished(version: String?, cipher: String?) {
        tlsDescription = "version=\(version ?? "unknown")" + (cipher.map { " cipher=\($0)" } ?? "")
    }

    func connectionClosed() {
        abortMessage()
    }
}
