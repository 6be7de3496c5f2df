import NIOCore

/// The server side of an SMTP session (RFC 5321 §4.1, §4.3), as a value: bytes and answers go
/// in, actions come out. It never touches a socket, a file or the clock; the I/O layer carries
/// out the actions and reports back (recipient verdicts, commit results, TLS, timeouts).
///
/// Connection state (HELO name, TLS, errors) is kept apart from transaction state (the envelope),
/// so that RSET, EHLO and a finished message reset only the latter.
public struct ServerSession: Sendable {
    enum Phase: Sendable {
        case notGreeted
        case command
        case awaitingRecipient
        case data(DataDecoder)
        /// Octets of a BDAT chunk still to read; `decoder` is nil when the chunk is read only to be
        /// thrown away (a BDAT that was refused).
        case chunk(remaining: Int, last: Bool, refusal: Reply?)
        case awaitingCommit
        /// STARTTLS was answered; nothing is read until the handshake is done.
        case awaitingTLS
        /// AUTH sent a `334` challenge; the next line is the client's response, not a command.
        case authResponse(SASLExchange)
        /// The credentials are being checked; nothing is read until the verdict.
        case awaitingAuthentication
        case closed
    }

    public let configuration: ServerSessionConfiguration
    private let parser: CommandParser
    /// The longest command line kept before it is skipped; fixed by the configuration, so worked
    /// out once rather than for every line.
    private let longestLine: Int
    private var phase = Phase.notGreeted
    private var inbound = ByteBuffer()
    /// The rest of an over-long command line is being skipped.
    private var skippingLongLine = false
    /// The client sent its FIN: no more input will come.
    private var inputHasEnded = false

    public private(set) var heloName: String?
    public private(set) var usedEHLO = false
    public private(set) var isTLS: Bool
    /// Who the client proved to be with AUTH, and which senders that allows.
    public private(set) var identity: AuthenticatedIdentity?
    public var authenticatedUser: String? { identity?.user }
    public private(set) var transaction: SessionTransaction?
    private var chunkDecoder: ChunkDecoder?
    public private(set) var errorCount = 0
    public private(set) var shuttingDown = false
    /// Messages accepted on this connection, for logs and limits.
    public private(set) var messagesAccepted = 0
    /// Commands received on this connection, for the limit.
    public private(set) var commandCount = 0
    /// Commands read, by verb, for metrics (AUTH's responses and message data are not commands).
    public private(set) var commandTally = CommandTally()
    /// Limits the client went past since `takeLimitsReached()` was last called, for metrics.
    public private(set) var limitsReached: [SessionLimit] = []

    public init(configuration: ServerSessionConfiguration) {
        self.configuration = configuration
        self.parser = CommandParser(limits: configuration.limits, strictPaths: configuration.strictAddressSyntax)
        self.longestLine = configuration.limits.longestLine(extensions: configuration.extensions)
        self.isTLS = configuration.implicitTLS
    }

    // MARK: Events

    /// The connection is open: greet, or say we are not prepared and close (RFC 5321 §3.1).
    public mutating func start(refusal: Reply? = nil) -> [ServerAction] {
        guard case .notGreeted = phase else { return [] }
        if let refusal {
            phase = .closed
            return [.send(refusal), .close]
        }
        phase = .command
        return [.send(Reply.Session.greeting(configuration.hostname))]
    }

    /// The limits reached since the last call, emptied.
    public mutating func takeLimitsReached() -> [SessionLimit] {
        defer { limitsReached = [] }
        return limitsReached
    }

    /// Bytes from the client.
    public mutating func receive(_ bytes: ByteBuffer) -> [ServerAction] {
        if case .closed = phase { return [] }
        if case .awaitingTLS = phase { return [] }  // plaintext after STARTTLS is thrown away
        if inbound.readableBytes == 0 {
            inbound = bytes
        } else {
            var bytes = bytes
            inbound.writeBuffer(&bytes)
        }
        var actions: [ServerAction] = []
        process(&actions)
        return actions
    }

    /// The answer to `.checkRecipient`: a positive reply accepts the recipient.
    public mutating func recipientChecked(_ reply: Reply) -> [ServerAction] {
        guard case .awaitingRecipient = phase, var tx = transaction else { return [] }
        var actions: [ServerAction] = []
        if reply.isPositive, let pending = pendingRecipient {
            tx.recipients.append(pending)
            transaction = tx
        }
        pendingRecipient = nil
        phase = .command
        reply_(reply, &actions)
        process(&actions)
        return actions
    }
    private var pendingRecipient: AcceptedRecipient?

    /// The answer to `.commitMessage`: `250` once the message is durable, or why it is not.
    public mutating func messageCommitted(_ reply: Reply) -> [ServerAction] {
        guard case .awaitingCommit = phase else { return [] }
        var actions: [ServerAction] = []
        if reply.isPositive { messagesAccepted += 1 }
        transaction = nil
        chunkDecoder = nil
        phase = .command
        // A temporary failure to store is ours, not the client's.
        reply_(reply, &actions, clientsFault: !reply.isTransient)
        process(&actions)
        return actions
    }

    /// The TLS handshake after STARTTLS finished: back to the state before EHLO (RFC 3207 §4.2).
    public mutating func tlsEstablished() -> [ServerAction] {
        isTLS = true
        heloName = nil
        usedEHLO = false
        transaction = nil
        inbound = ByteBuffer()
        if case .awaitingTLS = phase { phase = .command }
        return []
    }

    /// The answer to `.authenticate`: `235` and the identity, or the refusal (`535 5.7.8` for
    /// bad credentials, `454 4.7.0` for a temporary failure, `421` to close).
    public mutating func authenticationChecked(_ outcome: AuthenticationOutcome) -> [ServerAction] {
        guard case .awaitingAuthentication = phase else { return [] }
        var actions: [ServerAction] = []
        phase = .command
        switch outcome {
        case .accepted(let identity):
            self.identity = identity
            reply_(Reply.Auth.succeeded, &actions)
        case .refused(let reply):
            reply_(reply, &actions)
        }
        process(&actions)
        return actions
    }

    /// The client said nothing for too long (RFC 5321 §4.5.3.2).
    public mutating func timedOut() -> [ServerAction] {
        if case .closed = phase { return [] }
        var actions: [ServerAction] = []
        abandonMessage(&actions)
        phase = .closed
        actions += [.send(.timeout), .close]
        return actions
    }

    /// The server is shutting down: idle sessions get `421` now, busy ones when their transaction ends.
    public mutating func shutdown() -> [ServerAction] {
        shuttingDown = true
        var actions: [ServerAction] = []
        closeIfShuttingDown(&actions)
        return actions
    }

    /// The client closed its sending side (a TCP half-close, as `nc -N` and many scripts do after
    /// `QUIT`): everything it sent before is still processed and answered, including commands that
    /// wait for a commit; once the session would need more input, it closes. A message cut off
    /// by the close is thrown away.
    public mutating func inputEnded() -> [ServerAction] {
        if case .closed = phase { return [] }
        inputHasEnded = true
        var actions: [ServerAction] = []
        process(&actions)
        return actions
    }

    /// The connection is gone: anything half-received is thrown away.
    public mutating func connectionClosed() -> [ServerAction] {
        var actions: [ServerAction] = []
        abandonMessage(&actions)
        phase = .closed
        return actions
    }

    /// The session needs an answer (recipient, commit, TLS) before it reads further input; the
    /// I/O layer may stop reading from the socket meanwhile.
    public var isWaiting: Bool {
        switch phase {
        case .awaitingRecipient, .awaitingCommit, .awaitingTLS, .awaitingAuthentication: return true
        default: return false
        }
    }

    /// The session has stopped reading input until an answer comes (recipient, commit). During a
    /// STARTTLS handshake input must flow: the TLS layer needs it.
    public var holdsInput: Bool {
        switch phase {
        case .awaitingRecipient, .awaitingCommit, .awaitingAuthentication: return true
        default: return false
        }
    }

    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// Whether message data is being read (for the DATA-phase timeout).
    public var isReadingMessage: Bool {
        switch phase {
        case .data, .chunk: return true
        default: return false
        }
    }

    /// A message has begun and is not finished: DATA under way, or a series of BDAT chunks (also
    /// between two chunks, when the session reads commands), or its commit. The limit on the whole
    /// data phase counts from its beginning to here.
    public var hasMessageInProgress: Bool {
        switch phase {
        case .data, .chunk, .awaitingCommit: return true
        default: return chunkDecoder != nil
        }
    }

    /// Octets received but not yet processed.
    public var bufferedBytes: Int { inbound.readableBytes }

    /// Octets of memory the input buffer holds (its capacity): none between commands.
    var bufferCapacity: Int { inbound.capacity }

    // MARK: Processing

    private var protocolName: String {
        (usedEHLO ? "ESMTP" : "SMTP") + (isTLS ? "S" : "") + (authenticatedUser != nil ? "A" : "")
    }

    /// Processes buffered input until it runs out or an answer is needed; after the client's
    /// half-close, running out of input ends the session.
    private mutating func process(_ actions: inout [ServerAction]) {
        processInput(&actions)
        guard inputHasEnded, !isWaiting, !isClosed else { return }
        abandonMessage(&actions)
        phase = .closed
        actions.append(.close)
    }

    private mutating func processInput(_ actions: inout [ServerAction]) {
        while true {
            switch phase {
            case .notGreeted, .awaitingRecipient, .awaitingCommit, .awaitingTLS, .awaitingAuthentication, .closed:
                compactInbound()
                return
            case .authResponse(var exchange):
                switch nextLine() {
                case nil:
                    compactInbound()
                    return
                case .tooLong:
                    phase = .command
                    limitsReached.append(.lineLength)
                    reply_(Reply.Auth.lineTooLong, &actions)
                case .line(let line):
                    commandCount += 1
                    phase = .command
                    authStep(exchange.respond(line), exchange, &actions)
                }
            case .command:
                switch nextLine() {
                case nil:
                    compactInbound()
                    return
                case .tooLong:
                    limitsReached.append(.lineLength)
                    reply_(.lineTooLong, &actions)
                case .line(let line):
                    handle(line: line, &actions)
                }
            case .data(var decoder):
                guard inbound.readableBytes > 0 else { return }
                var out = ByteBuffer()
                out.reserveCapacity(min(inbound.readableBytes, 64 * 1024))
                let done = decoder.decode(&inbound, into: &out)
                if out.readableBytes > 0 { actions.append(.messageData(out)) }
                if done {
                    finishMessage(problem: decoder.problem, &actions)
                } else {
                    phase = .data(decoder)
                    compactInbound()
                    return
                }
            case .chunk(let remaining, let last, let refusal):
                if remaining > 0 {
                    guard inbound.readableBytes > 0 else { return }
                    var taken: Int
                    if refusal == nil, var decoder = chunkDecoder {
                        var out = ByteBuffer()
                        taken = decoder.decode(&inbound, limit: remaining, into: &out)
                        chunkDecoder = decoder
                        if out.readableBytes > 0 { actions.append(.messageData(out)) }
                    } else {
                        taken = min(remaining, inbound.readableBytes)
                        inbound.moveReaderIndex(forwardBy: taken)
                    }
                    phase = .chunk(remaining: remaining - taken, last: last, refusal: refusal)
                    if remaining - taken > 0 {
                        compactInbound()
                        return
                    }
                }
                finishChunk(last: last, refusal: refusal, &actions)
            }
        }
    }

    private mutating func compactInbound() {
        if inbound.readableBytes == 0 {
            // Let go of the storage (it is usually the channel's receive buffer, which the channel
            // then reuses as it is): `clear()` on a shared buffer would allocate a new one, and an
            // idle connection would keep two.
            inbound = ByteBuffer()
        } else if inbound.readerIndex > 64 * 1024 {
            inbound.discardReadBytes()
        }
    }

    /// The next command line without its line ending, or nil when none is complete. A line longer
    /// than the limit is skipped to its end and answered with `500 5.5.2` (RFC 5321 §4.5.3.1.4).
    enum FramedLine {
        case line([UInt8])
        case tooLong
    }

    private mutating func nextLine() -> FramedLine? {
        let longest = longestLine
        while true {
            let view = inbound.readableBytesView
            guard let lf = view.firstIndex(of: 10) else {
                if view.count > longest {
                    skippingLongLine = true
                    inbound.moveReaderIndex(forwardBy: view.count)
                }
                return nil
            }
            let lineLength = lf - view.startIndex
            var line = Array(view[view.startIndex..<lf])
            inbound.moveReaderIndex(forwardBy: lineLength + 1)
            if line.last == 13 { line.removeLast() }
            if skippingLongLine || line.count + 2 > longest {
                skippingLongLine = false
                return .tooLong
            }
            return .line(line)
        }
    }

    private mutating func handle(line: [UInt8], _ actions: inout [ServerAction]) {
        commandCount += 1
        if commandCount > configuration.limits.maxCommandsPerConnection {
            limitsReached.append(.commands)
            return reply_(Reply.Session.tooManyCommands(configuration.hostname), &actions)
        }
        switch parser.parse(line) {
        case .failure(let error):
            commandTally.countUnparsed(line)
            reply_(error.reply, &actions)
            if error.closesConnection, !isClosed {
                phase = .closed
                actions.append(.close)
            }
        case .success(let command):
            commandTally.count(command)
            let limit = configuration.limits.lineLength(for: command.verb, extensions: configuration.extensions)
            if line.count + 2 > limit {
                limitsReached.append(.lineLength)
                reply_(.lineTooLong, &actions)
                return
            }
            handle(command, &actions)
        }
    }

    private mutating func handle(_ command: Command, _ actions: inout [ServerAction]) {
        switch command {
        case .helo(let name), .ehlo(let name):
            abandonTransaction(&actions)
            heloName = name
            if case .ehlo = command {
                usedEHLO = true
                reply_(ehloReply, &actions)
            } else {
                usedEHLO = false
                reply_(Reply.Session.helo(configuration.hostname), &actions)
            }
        case .mail(let path, let rawParameters):
            mail(path, rawParameters, &actions)
        case .rcpt(let path, let rawParameters):
            rcpt(path, rawParameters, &actions)
        case .data:
            data(&actions)
        case .bdat(let size, let last):
            bdat(size: size, last: last, &actions)
        case .rset:
            abandonTransaction(&actions)
            reply_(.ok, &actions)
        case .noop:
            reply_(.ok, &actions)
        case .quit:
            abandonTransaction(&actions)
            phase = .closed
            actions += [.send(Reply.Session.bye), .close]
        case .vrfy:
            reply_(.vrfy, &actions)
        case .expn:
            reply_(.expnDisabled, &actions)
        case .help:
            reply_(
                Reply.Session.help, &actions)
        case .starttls(let parameter):
            starttls(parameter: parameter, &actions)
        case .auth(let mechanism, let initialResponse):
            auth(mechanism: mechanism, initialResponse: initialResponse, &actions)
        }
    }

    /// AUTH (RFC 4954 §4): offered and accepted only over TLS, once per session, outside a
    /// transaction.
    private mutating func auth(mechanism: String, initialResponse: String?, _ actions: inout [ServerAction]) {
        guard !configuration.extensions.auth.isEmpty else {
            return reply_(Reply.Auth.notEnabled, &actions)
        }
        guard isTLS else {
            return reply_(Reply.Auth.encryptionRequired, &actions)
        }
        guard heloName != nil, usedEHLO else { return reply_(Reply.Auth.needEHLO, &actions) }
        guard identity == nil else { return reply_(Reply.Auth.alreadyAuthenticated, &actions) }
        guard transaction == nil else {
            return reply_(Reply.Auth.duringTransaction, &actions)
        }
        guard configuration.extensions.auth.contains(mechanism),
            let (exchange, step) = SASLExchange.start(mechanism: mechanism, initialResponse: initialResponse)
        else {
            return reply_(Reply.Auth.mechanismNotSupported, &actions)
        }
        authStep(step, exchange, &actions)
    }

    private mutating func authStep(_ step: SASLExchange.Step, _ exchange: SASLExchange, _ actions: inout [ServerAction]) {
        switch step {
        case .challenge(let text):
            phase = .authResponse(exchange)
            actions.append(.send(Reply.Auth.challenge(text)))
        case .failure(let reply):
            reply_(reply, &actions)
        case .credentials(let credentials):
            phase = .awaitingAuthentication
            actions.append(.authenticate(credentials))
        }
    }

    private var ehloReply: Reply {
        var lines = [
            configuration.hostname,
            "PIPELINING",
            "SIZE \(configuration.limits.maxMessageSize)",
        ]
        if configuration.extensions.startTLS && !isTLS { lines.append("STARTTLS") }
        if !configuration.extensions.auth.isEmpty && isTLS {
            lines.append("AUTH " + configuration.extensions.auth.joined(separator: " "))
        }
        lines += ["ENHANCEDSTATUSCODES", "8BITMIME"]
        if configuration.extensions.dsn { lines.append("DSN") }
        lines += ["SMTPUTF8", "CHUNKING"]
        return Reply.Session.ehlo(lines)
    }

    private mutating func mail(_ path: ReversePath, _ raw: [ESMTPParameter], _ actions: inout [ServerAction]) {
        guard heloName != nil else { return reply_(.badSequenceNeedHELO, &actions) }
        guard transaction == nil else { return reply_(.badSequenceNestedMAIL, &actions) }
        if messagesAccepted >= configuration.limits.maxMessagesPerConnection {
            limitsReached.append(.messages)
            return reply_(Reply.Session.tooManyMessages(configuration.hostname), &actions)
        }
        if configuration.requiresAuthentication && identity == nil {
            return reply_(Reply.Auth.required, &actions)
        }
        if let identity, !identity.senders.permits(path) {
            return reply_(
                Reply.Auth.senderNotOwned("\(path)", user: identity.user), &actions)
        }
        if shuttingDown {
            return reply_(Reply.Session.shuttingDown(configuration.hostname), &actions)
        }
        let parameters: MailParameters
        do {
            parameters = try MailParameters(raw, extensions: configuration.extensions, limits: configuration.limits)
        } catch {
            if error.reply == .messageTooBig { limitsReached.append(.messageSize) }
            return reply_(error.reply, &actions)
        }
        if parameters.smtpUTF8 || parameters.body != nil, !usedEHLO {
            return reply_(Reply.Transaction.parametersNeedEHLO, &actions)
        }
        if let m = path.mailbox, !m.isASCII, !parameters.smtpUTF8 {
            return reply_(.nonASCIIAddressWithoutSMTPUTF8, &actions)
        }
        transaction = SessionTransaction(reversePath: path, parameters: parameters)
        reply_(Reply.Transaction.senderOk, &actions)
    }

    private mutating func rcpt(_ path: ForwardPath, _ raw: [ESMTPParameter], _ actions: inout [ServerAction]) {
        guard var tx = transaction else { return reply_(.badSequenceNeedMAIL, &actions) }
        tx.recipientAttempts += 1
        transaction = tx
        if case .mailbox(let m) = path, !m.isASCII, !tx.parameters.smtpUTF8 {
            return reply_(.nonASCIIAddressWithoutSMTPUTF8, &actions)
        }
        let parameters: RecipientParameters
        do {
            parameters = try RecipientParameters(raw, extensions: configuration.extensions)
        } catch {
            return reply_(error.reply, &actions)
        }
        guard tx.recipients.count < configuration.limits.maxRecipients else {
            limitsReached.append(.recipients)
            return reply_(.tooManyRecipients, &actions)
        }
        let recipient = AcceptedRecipient(path: path, parameters: parameters)
        pendingRecipient = recipient
        phase = .awaitingRecipient
        actions.append(.checkRecipient(recipient, tx))
    }

    private mutating func data(_ actions: inout [ServerAction]) {
        guard let tx = transaction else { return reply_(.badSequenceNeedMAIL, &actions) }
        guard !tx.recipients.isEmpty else {
            if tx.recipientAttempts > 0 {
                return reply_(Reply.Transaction.noValidRecipients, &actions)
            }
            return reply_(.badSequenceNeedRCPT, &actions)
        }
        guard chunkDecoder == nil else {
            return reply_(Reply.Transaction.dataAfterBDAT, &actions)
        }
        actions.append(.beginMessage(MessageStart(transaction: tx, heloName: heloName ?? "", protocolName: protocolName)))
        actions.append(.send(.startMailInput))
        phase = .data(DataDecoder(maxSize: configuration.limits.maxMessageSize, maxLineLength: configuration.limits.textLineLength))
    }

    private mutating func bdat(size: Int, last: Bool, _ actions: inout [ServerAction]) {
        // A refused BDAT still has its octets read, so they are not taken for commands (RFC 3030 §2).
        var refusal: Reply?
        if let tx = transaction {
            if tx.recipients.isEmpty {
                refusal = tx.recipientAttempts > 0 ? Reply.Transaction.noValidRecipients : .badSequenceNeedRCPT
            }
        } else {
            refusal = .badSequenceNeedMAIL
        }
        if refusal == nil, chunkDecoder == nil, let tx = transaction {
            chunkDecoder = ChunkDecoder(maxSize: configuration.limits.maxMessageSize, maxLineLength: configuration.limits.textLineLength)
            actions.append(.beginMessage(MessageStart(transaction: tx, heloName: heloName ?? "", protocolName: protocolName)))
        }
        phase = .chunk(remaining: size, last: last, refusal: refusal)
    }

    private mutating func finishChunk(last: Bool, refusal: Reply?, _ actions: inout [ServerAction]) {
        phase = .command
        if let refusal {
            return reply_(refusal, &actions)
        }
        guard var decoder = chunkDecoder else { return }
        if last {
            decoder.finish()
            chunkDecoder = decoder
            finishMessage(problem: decoder.problem, &actions)
        } else if decoder.problem == .tooBig {
            // Further chunks are pointless; the client must stop sending them (RFC 3030 §2).
            finishMessage(problem: .tooBig, &actions)
        } else {
            reply_(Reply.Transaction.chunkReceived(decoder.size), &actions)
        }
    }

    private mutating func finishMessage(problem: MessageDataProblem?, _ actions: inout [ServerAction]) {
        if let problem {
            switch problem {
            case .tooBig: limitsReached.append(.messageSize)
            case .lineTooLong: limitsReached.append(.lineLength)
            case .bareLineEnding: break
            }
            actions.append(.abortMessage)
            transaction = nil
            chunkDecoder = nil
            phase = .command
            reply_(problem.reply, &actions)
        } else {
            phase = .awaitingCommit
            actions.append(.commitMessage)
        }
    }

    private mutating func starttls(parameter: String?, _ actions: inout [ServerAction]) {
        guard configuration.extensions.startTLS, !isTLS else {
            if isTLS { return reply_(Reply.StartTLS.alreadyActive, &actions) }
            return reply_(Reply.StartTLS.notAvailable, &actions)
        }
        guard parameter == nil else {
            return reply_(Reply.StartTLS.takesNoParameters, &actions)
        }
        guard transaction == nil else {
            return reply_(Reply.StartTLS.duringTransaction, &actions)
        }
        // Anything the client pipelined after STARTTLS is thrown away (CVE-2011-0411).
        inbound = ByteBuffer()
        phase = .awaitingTLS
        actions += [.send(Reply.StartTLS.ready), .startTLS]
    }

    // MARK: Helpers

    /// Sends a reply, counting errors and closing after too many of them or when shutting down.
    /// Sends a reply; a refusal counts toward the error limit unless `clientsFault` is false (the
    /// server's own temporary trouble, such as a full disk, must not cut off a client that retries).
    private mutating func reply_(_ reply: Reply, _ actions: inout [ServerAction], clientsFault: Bool = true) {
        actions.append(.send(reply))
        if reply.code >= 400 && reply.code != 421 && clientsFault {
            errorCount += 1
            if errorCount >= configuration.limits.maxErrors {
                limitsReached.append(.errors)
                abandonMessage(&actions)
                phase = .closed
                actions += [.send(.tooManyErrors), .close]
                return
            }
        }
        if reply.code == 421 {
            phase = .closed
            actions.append(.close)
            return
        }
        closeIfShuttingDown(&actions)
    }

    private mutating func closeIfShuttingDown(_ actions: inout [ServerAction]) {
        guard shuttingDown, transaction == nil, case .command = phase else { return }
        phase = .closed
        actions += [
            .send(Reply.Session.shuttingDown(configuration.hostname)), .close,
        ]
    }

    private mutating func abandonTransaction(_ actions: inout [ServerAction]) {
        abandonMessage(&actions)
        transaction = nil
        chunkDecoder = nil
    }

    /// Drops a message whose data was being received (BDAT chunks already sent, or DATA cut off).
    private mutating func abandonMessage(_ actions: inout [ServerAction]) {
        switch phase {
        case .data, .awaitingCommit:
            actions.append(.abortMessage)
        case .chunk(_, _, let refusal) where refusal == nil:
            actions.append(.abortMessage)
        default:
            if chunkDecoder != nil { actions.append(.abortMessage) }
        }
        chunkDecoder = nil
    }
}
