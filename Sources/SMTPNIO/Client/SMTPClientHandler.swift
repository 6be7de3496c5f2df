import Logging
import NIOCore
import SMTPCore

/// Reads one message's data for sending, chunk by chunk (the spool file, in Postie).
public protocol OutgoingMessageReader: AnyObject, Sendable {
    /// The next chunk, or nil at the end. Called on the connection's event loop, one at a time.
    func next(on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer?>
    func close()
}

/// How long the client waits for each kind of reply (RFC 5321 §4.5.3.2) and for the connection.
public struct ClientTimeouts: Hashable, Sendable {
    public var connect: TimeAmount = .seconds(30)
    public var greeting: TimeAmount = .minutes(5)
    public var command: TimeAmount = .minutes(5)
    public var dataInitiation: TimeAmount = .minutes(2)
    /// Per chunk of data written (§4.5.3.2.5: 3 minutes per block).
    public var dataBlock: TimeAmount = .minutes(3)
    public var dataTermination: TimeAmount = .minutes(10)

    public init() {}

    /// The same timeout for everything (tests).
    public init(all: TimeAmount) {
        connect = all
        greeting = all
        command = all
        dataInitiation = all
        dataBlock = all
        dataTermination = all
    }

    func timeout(for wait: ClientWait) -> TimeAmount {
        switch wait {
        case .greeting: return greeting
        case .command: return command
        case .dataInitiation: return dataInitiation
        case .dataTermination: return dataTermination
        }
    }
}

/// What one connection achieved.
public struct ClientResult: Sendable {
    /// Set when the server was not prepared (refused greeting, EHLO and HELO, or no connection):
    /// no message was attempted.
    public var notPrepared: Reply?
    /// Set when there was no SMTP dialogue at all: the reason in words (`Connection refused`, `lost
    /// connection before the greeting`), for logs that must not say the server "said" it.
    public var unreachable: String?
    /// Why the server was not prepared (`notPrepared`): its refusal, or our requirement.
    public var notPreparedCause: ClientSession.NotPreparedCause?
    /// Outcomes per message index, each in recipient order.
    public var outcomes: [Int: [RecipientOutcome]] = [:]
    public var peer = PeerExtensions()
    public var usedEHLO = false
    public var tls = false
    /// The dialogue, for `postie trace` (AUTH and the message left out).
    public var transcript = SessionTranscript()

    public init(notPrepared: Reply? = nil, unreachable: String? = nil) {
        self.notPrepared = notPrepared
        self.unreachable = unreachable
    }
}

/// Runs a `ClientSession` on a channel: parses replies, sends commands, streams message data
/// through a `DataEncoder` with backpressure (one chunk in flight), and keeps the timeouts.
final class SMTPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: ClientSession
    private var parser = ReplyParser()
    private let timeouts: ClientTimeouts
    private let openReader: @Sendable (Int) throws -> OutgoingMessageReader
    private let promise: EventLoopPromise<ClientResult>
    private var result = ClientResult()
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var logger: Logger
    private var done = false
    private var encoder = DataEncoder()
    /// A message going by BDAT, gathered whole before its command (it names the octet count).
    private var gathered = ByteBuffer()
    private let startTLS: ((Channel) -> EventLoopFuture<Void>)?
    /// Told of each message's outcomes as soon as the server gives them, before the connection
    /// carries the next message: the queue makes them durable at once.
    private let messageFinished: (@Sendable (Int, [RecipientOutcome]) -> Void)?
    private var transcript = SessionTranscript()
    private let started = NIODeadline.now()
    /// Octets of the message being sent, for the transcript's note.
    private var messageOctets = 0

    /// Milliseconds since the attempt began.
    private var elapsed: Int { Int((NIODeadline.now() - started).nanoseconds / 1_000_000) }

    init(
        session: ClientSession, timeouts: ClientTimeouts, openReader: @escaping @Sendable (Int) throws -> OutgoingMessageReader,
        promise: EventLoopPromise<ClientResult>, logger: Logger, startTLS: ((Channel) -> EventLoopFuture<Void>)?,
        messageFinished: (@Sendable (Int, [RecipientOutcome]) -> Void)? = nil
    ) {
        self.messageFinished = messageFinished
        self.session = session
        self.timeouts = timeouts
        self.openReader = openReader
        self.promise = promise
        self.logger = logger
        self.startTLS = startTLS
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(timeouts.greeting) }
    }

    func channelActive(context: ChannelHandlerContext) {
        transcript.note("connected to \(context.channel.remoteAddress.map { "\($0)" } ?? "the server")", at: elapsed)
        arm(timeouts.greeting)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            for reply in try parser.parse(unwrapInboundIn(data)) {
                transcript.server(reply, at: elapsed)
                perform(session.receive(reply))
            }
            if !session.finished { arm(timeouts.timeout(for: session.waitingFor)) }
        } catch {
            logger.info("protocol error from server", metadata: ["error": "\(error)"])
            transcript.note("protocol error: \(error)", at: elapsed)
            perform(session.connectionLost("protocol error: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if !session.finished {
            transcript.note("connection closed by the remote server", at: elapsed)
            perform(session.connectionLost("connection closed by the remote server"))
        }
        complete()
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        transcript.note("connection error: \(error)", at: elapsed)
        if !session.finished { perform(session.connectionLost("connection error: \(error)")) }
        context.close(promise: nil)
    }

    private func complete() {
        guard !done else { return }
        done = true
        result.peer = session.peer
        result.usedEHLO = session.usedEHLO
        result.tls = session.isTLS
        transcript.note("closed", at: elapsed)
        result.transcript = transcript
        promise.succeed(result)
    }

    private func arm(_ timeout: TimeAmount) {
        timer?.cancel()
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let handler = bound.value
            handler.logger.info("timeout waiting for the remote server")
            handler.transcript.note("timeout waiting for the remote server", at: handler.elapsed)
            handler.perform(handler.session.connectionLost("timeout waiting for the remote server"))
        }
    }

    private func perform(_ actions: [ClientAction]) {
        guard let context else { return }
        var out = context.channel.allocator.buffer(capacity: 256)
        func flush() {
            if out.readableBytes > 0 {
                context.writeAndFlush(wrapOutboundOut(out), promise: nil)
                out = context.channel.allocator.buffer(capacity: 256)
            }
        }
        for action in actions {
            switch action {
            case .send(let line):
                transcript.client(line, at: elapsed)
                out.writeString(line)
                out.writeStaticString("\r\n")
            case .sendMessage(let index):
                flush()
                streamMessage(index, chunked: false)
            case .sendChunkedMessage(let index):
                flush()
                streamMessage(index, chunked: true)
            case .startTLS:
                flush()
                guard let startTLS else {
                    perform(session.connectionLost("STARTTLS not possible"))
                    continue
                }
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                startTLS(context.channel).whenComplete { r in
                    let handler = bound.value
                    switch r {
                    case .success:
                        let (version, cipher) = handler.context.map { TLSHandshake.takeSummary(from: $0.pipeline.syncOperations) } ?? (nil, nil)
                        handler.transcript.note(
                            "TLS established: " + [version ?? "version unknown", cipher ?? "cipher unknown"].joined(separator: " "),
                            at: handler.elapsed)
                        handler.perform(handler.session.tlsEstablished())
                    case .failure(let e): handler.perform(handler.session.connectionLost("TLS handshake failed: \(e)"))
                    }
                }
            case .messageFinished(let index, let outcomes):
                result.outcomes[index] = outcomes
                messageFinished?(index, outcomes)
            case .notPrepared(let reply):
                result.notPrepared = reply
                result.notPreparedCause = session.notPreparedCause
                if session.notPreparedCause == .connectionLost { result.unreachable = reply.text }
            case .close:
                flush()
                timer?.cancel()
                context.close(promise: nil)
            }
        }
        flush()
    }

    /// Writes the message chunk by chunk, each after the previous one was written; `chunked`
    /// (BDAT): gathers it whole, then writes `BDAT <octets> LAST` and the octets.
    private func streamMessage(_ index: Int, chunked: Bool) {
        guard let context else { return }
        let reader: OutgoingMessageReader
        do {
            reader = try openReader(index)
        } catch {
            logger.error("cannot read the message to send", metadata: ["error": "\(error)"])
            perform(session.connectionLost("local error reading the message"))
            context.close(promise: nil)
            return
        }
        encoder = DataEncoder(dotStuffing: !chunked)
        gathered = context.channel.allocator.buffer(capacity: 0)
        messageOctets = 0
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        @Sendable func step() {
            let handler = bound.value
            guard handler.context != nil else {
                reader.close()
                return
            }
            handler.arm(handler.timeouts.dataBlock)
            reader.next(on: eventLoop).whenComplete { r in
                let handler = bound.value
                guard let context = handler.context else {
                    reader.close()
                    return
                }
                switch r {
                case .success(let chunk?) where chunked:
                    handler.messageOctets += chunk.readableBytes
                    handler.encoder.encode(chunk, into: &handler.gathered)
                    step()
                case .success(let chunk?):
                    handler.messageOctets += chunk.readableBytes
                    var out = context.channel.allocator.buffer(capacity: chunk.readableBytes + chunk.readableBytes / 32 + 16)
                    handler.encoder.encode(chunk, into: &out)
                    context.writeAndFlush(handler.wrapOutboundOut(out)).whenComplete { _ in step() }
                case .success(nil):
                    reader.close()
                    var out = context.channel.allocator.buffer(capacity: 8)
                    handler.transcript.note(
                        chunked ? "C: BDAT … LAST with the message (\(handler.messageOctets) octets, not kept)"
                            : "the message (\(handler.messageOctets) octets, not kept) and its ending dot", at: handler.elapsed)
                    if chunked {
                        // The command, then the gathered octets as they are (no second copy).
                        handler.encoder.finish(into: &handler.gathered)
                        context.write(
                            handler.wrapOutboundOut(context.channel.allocator.buffer(string: "BDAT \(handler.gathered.readableBytes) LAST\r\n")),
                            promise: nil)
                        swap(&out, &handler.gathered)
                        handler.gathered = ByteBuffer()
                    } else {
                        handler.encoder.finish(into: &out)
                    }
                    context.writeAndFlush(handler.wrapOutboundOut(out), promise: nil)
                    handler.arm(handler.timeouts.dataTermination)
                case .failure(let error):
                    reader.close()
                    handler.logger.error("cannot read the message to send", metadata: ["error": "\(error)"])
                    // Never end a message we could not read whole: drop the connection instead.
                    handler.perform(handler.session.connectionLost("local error reading the message"))
                    context.close(promise: nil)
                }
            }
        }
        step()
    }
}
