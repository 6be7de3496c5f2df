import Logging
import NIOCore
import NIOExtras
import NIOSSL
import NIOTLS
import SMTPCore

/// Runs a `ServerSession` on a channel: feeds it bytes, carries out its actions, and keeps the
/// timeouts. It stops reading from the socket while the session waits for an answer, while
/// message data waits for the disk, or while the client does not read our replies, so memory per
/// connection stays bounded.
public final class SMTPServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Never
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var session: ServerSession
    private let configuration: SMTPServerConfiguration
    private let serverDelegate: SMTPServerDelegate
    private var delegate: SMTPConnectionDelegate?
    private let limiter: ConnectionLimiter
    private let connectionID: UInt64
    private var logger: Logger
    private var info: SMTPConnectionInfo?
    private var holdsPlace = false
    private var context: ChannelHandlerContext?
    private var readPending = false
    private var timer: Scheduled<Void>?
    /// When the running timer fires.
    private var timerDue: NIODeadline?
    /// The last time the client sent something or we finished working for it.
    private var lastActivity = NIODeadline.now()
    private var closing = false
    /// When the current message's data began, for the limit on the whole phase.
    private var dataStarted: NIODeadline?
    /// The session's command tally as last told to the delegate.
    private var reportedCommands = CommandTally()
    /// Starts TLS on the channel after STARTTLS; nil when TLS is not configured.
    private let startTLS: ((Channel) -> EventLoopFuture<Void>)?

    public init(
        configuration: SMTPServerConfiguration, delegate: SMTPServerDelegate, limiter: ConnectionLimiter, connectionID: UInt64,
        logger: Logger, startTLS: ((Channel) -> EventLoopFuture<Void>)? = nil
    ) {
        self.configuration = configuration
        self.session = ServerSession(configuration: configuration.session)
        self.serverDelegate = delegate
        self.limiter = limiter
        self.connectionID = connectionID
        self.logger = logger
        self.startTLS = startTLS
        self.logger[metadataKey: "conn"] = "\(connectionID)"
    }

    // MARK: Channel events

    public func channelActive(context: ChannelHandlerContext) {
        self.context = context
        var info = SMTPConnectionInfo(
            id: connectionID, remoteAddress: context.channel.remoteAddress, localAddress: context.channel.localAddress,
            logger: logger)
        logger[metadataKey: "client"] = .string(info.remoteIP)
        info.logger = logger
        self.info = info
        var refusal: Reply?
        if limiter.acquire(info.remoteIP) {
            holdsPlace = true
            logger.info("connect")
        } else {
            logger.notice("connection refused: too many connections")
            refusal = Reply.Session.tooManyConnections(configuration.session.hostname)
            serverDelegate.connectionRefused(info)
        }
        if refusal == nil {
            let delegate = serverDelegate.makeConnectionDelegate(for: info, eventLoop: context.eventLoop)
            delegate.onProgress = { [weak self] in self?.resumeReadingIfPossible() }
            self.delegate = delegate
        }
        perform(session.start(refusal: refusal))
        armTimer()
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        perform(session.connectionClosed())
        delegate?.connectionClosed()
        delegate = nil
        if holdsPlace {
            limiter.release(info?.remoteIP ?? "unknown")
            holdsPlace = false
            logger.info("disconnect", metadata: ["messages": "\(session.messagesAccepted)", "errors": "\(session.errorCount)"])
        }
        self.context = nil
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        guard !closing else { return }
        if session.hasMessageInProgress, let started = dataStarted, context.eventLoop.now - started > configuration.dataPhaseLimit {
            // A client that trickles data to hold the connection: time is up for this message.
            logger.info("data phase too long")
            delegate?.limitReached(.dataPhaseTime)
            perform(session.timedOut())
            return
        }
        perform(session.receive(bytes))
        // A BDAT series reads commands between its chunks: the limit runs until the message ends.
        if !session.hasMessageInProgress { dataStarted = nil }
        armTimer()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible()
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let (version, cipher) = TLSHandshake.takeSummary(from: context.pipeline.syncOperations)
            logger.debug("TLS established", metadata: ["version": .string(version ?? "unknown"), "cipher": .string(cipher ?? "unknown")])
            delegate?.tlsEstablished(version: version, cipher: cipher)
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client's FIN (the channel allows half-closure): answer what came before it.
            logger.debug("client closed its sending side")
            perform(session.inputEnded())
            return
        }
        if event is ChannelShouldQuiesceEvent {
            logger.debug("shutting down")
            perform(session.shutdown())
            // A transaction in flight gets a bounded time to finish.
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: configuration.shutdownGrace) { bound.value.shutdownGraceExpired() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    public func read(context: ChannelHandlerContext) {
        if shouldPauseReading {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: Carrying out actions

    private var shouldPauseReading: Bool {
        guard let context else { return true }
        return session.holdsInput || !context.channel.isWritable
            || (delegate?.bufferedMessageBytes ?? 0) > configuration.maxBufferedMessageBytes
    }

    private func resumeReadingIfPossible() {
        guard readPending, !shouldPauseReading, let context else { return }
        readPending = false
        context.read()
    }

    private func perform(_ actions: [ServerAction]) {
        guard let context else { return }
        // Every session call that reads input returns here: tell the delegate what it read.
        if session.commandTally.total != reportedCommands.total {
            delegate?.commandsRead(session.commandTally, since: reportedCommands)
            reportedCommands = session.commandTally
        }
        if !session.limitsReached.isEmpty {
            for limit in session.takeLimitsReached() { delegate?.limitReached(limit) }
        }
        var out: ByteBuffer?
        func flushOut() {
            if let buffer = out {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
                out = nil
            }
        }
        for action in actions {
            switch action {
            case .send(let reply):
                if out == nil { out = context.channel.allocator.buffer(capacity: 256) }
                reply.encode(into: &out!)
                delegate?.replied(reply)
                if reply.code >= 400 { logRejection(reply) }
            case .close:
                flushOut()
                closeNow()
            case .checkRecipient(let recipient, let transaction):
                guard let delegate else { continue }
                flushOut()
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                delegate.checkRecipient(recipient, transaction: transaction, session: session).whenComplete {
                    bound.value.recipientChecked($0)
                }
            case .beginMessage(let start):
                dataStarted = context.eventLoop.now
                delegate?.beginMessage(start, session: session)
            case .messageData(let data):
                delegate?.messageData(data)
            case .commitMessage:
                guard let delegate else { continue }
                flushOut()
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                delegate.commitMessage().whenComplete { bound.value.messageCommitted($0) }
            case .abortMessage:
                delegate?.abortMessage()
            case .startTLS:
                flushOut()
                guard let startTLS else {
                    closeNow()
                    continue
                }
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                startTLS(context.channel).whenComplete { bound.value.tlsFinished($0) }
            case .authenticate(let credentials):
                guard let delegate else { continue }
                flushOut()
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                delegate.authenticate(credentials, session: session).whenComplete { bound.value.authenticationChecked($0) }
            }
        }
        flushOut()
    }

    /// Every refusal is logged with what the client had said, as Postfix operators expect.
    private func logRejection(_ reply: Reply) {
        var metadata: Logger.Metadata = ["reply": .string(reply.description)]
        if let helo = session.heloName { metadata["helo"] = .string(helo) }
        if let tx = session.transaction {
            metadata["from"] = .string(tx.reversePath.description)
            metadata["nrcpt"] = "\(tx.recipients.count)"
        }
        logger.info("reject", metadata: metadata)
    }

    private func send(_ reply: Reply) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        reply.encode(into: &buffer)
        delegate?.replied(reply)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func closeNow() {
        guard !closing, let context else { return }
        closing = true
        timer?.cancel()
        context.close(promise: nil)
    }

    /// (Re)starts the idle timer: the data timeout while message data flows, the command timeout
    /// otherwise. While we ourselves are working (commit, lookup) the client is not to blame.
    ///
    /// Called for every read, so it only notes the time: the one timer running is moved later
    /// when it fires early, and replaced only when the new deadline is earlier than its own
    /// (scheduling and cancelling a task per read cost more than the rest of a short read).
    private func armTimer() {
        guard let context, !closing else { return }
        let now = context.eventLoop.now
        lastActivity = now
        let due = now + currentTimeout
        if let timerDue, timerDue <= due { return }
        schedule(at: due, context: context)
    }

    private var currentTimeout: TimeAmount {
        session.isReadingMessage ? configuration.dataTimeout : configuration.commandTimeout
    }

    private func schedule(at due: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timerDue = due
        timer = context.eventLoop.scheduleTask(deadline: due) { bound.value.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerDue = nil
        guard !closing, let context else { return }
        let now = context.eventLoop.now
        // While we work for the client (a recipient lookup, a commit, a password check) it is not to
        // blame; a TLS handshake after STARTTLS waits for the client, and is timed like a command.
        if session.holdsInput {
            lastActivity = now
        }
        let due = lastActivity + currentTimeout
        if now < due {
            schedule(at: due, context: context)
            return
        }
        logger.info("timeout")
        perform(session.timedOut())
    }

    private func shutdownGraceExpired() {
        guard !closing else { return }
        send(Reply.Session.shuttingDown(configuration.session.hostname))
        perform(session.connectionClosed())
        closeNow()
    }

    /// An error from the mail side is a temporary failure for the client: unknown errors count
    /// as temporary, so the client tries again rather than giving up on the message.
    private static func reply(_ result: Result<Reply, Error>, failure: String) -> Reply {
        (try? result.get()) ?? Reply.Session.localError(failure)
    }

    private func recipientChecked(_ result: Result<Reply, Error>) {
        perform(session.recipientChecked(Self.reply(result, failure: "Error: temporary failure looking up the recipient")))
        resumeReadingIfPossible()
    }

    private func messageCommitted(_ result: Result<Reply, Error>) {
        perform(session.messageCommitted(Self.reply(result, failure: "Error: local error in processing, try again later")))
        armTimer()
        resumeReadingIfPossible()
    }

    private func authenticationChecked(_ result: Result<AuthenticationOutcome, Error>) {
        let outcome = (try? result.get()) ?? .refused(Reply.Auth.temporaryFailure)
        perform(session.authenticationChecked(outcome))
        armTimer()
        resumeReadingIfPossible()
    }

    private func tlsFinished(_ result: Result<Void, Error>) {
        switch result {
        case .success:
            perform(session.tlsEstablished())
            resumeReadingIfPossible()
        case .failure(let error):
            logger.info("TLS handshake failed", metadata: ["error": "\(error)"])
            closeNow()
        }
    }
}
