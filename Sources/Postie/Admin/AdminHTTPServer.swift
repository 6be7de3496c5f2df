import AdminHTTP
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SMTPNIO
import Synchronization

/// The admin listener (metrics, health, the API): HTTP/1.1 through SwiftNIO's parser, one request
/// at a time per connection, bodies up to `maxBody` octets. The answers come from `respond`.
/// A connection that neither sends nor is sent anything for `idleTimeout` is closed, and at most
/// `maxConnections` are open at once (beyond them a new one is closed at once): the listener
/// shares the process's file descriptors with SMTP, which a client holding idle connections must
/// not be able to use up.
final class AdminHTTPServer: Sendable {
    static let maxBody = 1024 * 1024
    static let idleTimeout = TimeAmount.seconds(60)
    static let maxConnections = 128
    private let channels: [any Channel]

    var addresses: [SocketAddress] { channels.compactMap(\.localAddress) }

    private init(channels: [any Channel]) {
        self.channels = channels
    }

    static func start(
        on addresses: [(host: String, port: Int)], group: any EventLoopGroup, logger: Logger,
        respond: @escaping @Sendable (AdminRequest) async -> AdminResponse
    ) async throws -> AdminHTTPServer {
        var channels: [any Channel] = []
        let open = AdminConnectionGate(limit: maxConnections)
        do {
            for address in addresses {
                let bootstrap = ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 64)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try configure(channel.pipeline.syncOperations, gate: open, idleTimeout: idleTimeout, respond: respond)
                        }
                    }
                do {
                    channels.append(try await bootstrap.bind(host: address.host, port: address.port).get())
                } catch {
                    // The same words and exit status as an SMTP listener that cannot bind.
                    let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
                    throw SMTPServer.BindError(address: "\(address.host):\(address.port) ([admin] listen)", reason: reason)
                }
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        return AdminHTTPServer(channels: channels)
    }

    func stop() async {
        for channel in channels { try? await channel.close() }
    }

    /// A connection's handlers, nearest the socket first: the gate, the idle clock, SwiftNIO's
    /// HTTP server pipeline (with its error handling: 400 and close for what does not parse), ours.
    static func configure(
        _ pipeline: ChannelPipeline.SynchronousOperations, gate: AdminConnectionGate, idleTimeout: TimeAmount,
        respond: @escaping @Sendable (AdminRequest) async -> AdminResponse
    ) throws {
        try pipeline.addHandler(AdminConnectionGate.Handler(gate: gate))
        try pipeline.addHandler(AdminIdleTimer(timeout: idleTimeout))
        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
        try pipeline.addHandler(AdminHTTPHandler(respond: respond))
    }
}

/// Counts the admin listener's open connections; one past the limit is closed as it opens.
final class AdminConnectionGate: Sendable {
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { open.withLock { $0 } }

    /// One connection's place: taken when it opens, given back when it closes.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        let gate: AdminConnectionGate
        private var admitted = false

        init(gate: AdminConnectionGate) {
            self.gate = gate
        }

        func channelActive(context: ChannelHandlerContext) {
            admitted = gate.open.withLock { n in
                guard n < gate.limit else { return false }
                n += 1
                return true
            }
            guard admitted else {
                context.close(promise: nil)
                return
            }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            if admitted {
                admitted = false
                gate.open.withLock { $0 -= 1 }
            }
            context.fireChannelInactive()
        }
    }
}

/// Closes a connection that has neither read nor written anything for `timeout`. SwiftNIO's
/// `IdleStateHandler` does this by the wall clock (`NIODeadline.now()`), which a test cannot
/// move; this one reads the event loop's clock (virtual on an `EmbeddedEventLoop`), as the SMTP
/// handler's timers do.
final class AdminIdleTimer: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let timeout: TimeAmount
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActivity = context.eventLoop.now
        schedule(context, at: lastActivity + timeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = context.eventLoop.now
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = context.eventLoop.now
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            let due = handler.lastActivity + handler.timeout
            if context.eventLoop.now >= due {
                context.close(promise: nil)
            } else {
                handler.schedule(context, at: due)
            }
        }
    }
}

/// One connection: gathers a request (`AdminRequestAssembler`), answers it, keeps the connection
/// when the client wants.
final class AdminHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (AdminRequest) async -> AdminResponse
    private var assembler = AdminRequestAssembler(maxBody: AdminHTTPServer.maxBody)

    init(respond: @escaping @Sendable (AdminRequest) async -> AdminResponse) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let complete = assembler.take(unwrapInboundIn(data)) else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: AdminResponse.self)
        if complete.bodyTooLarge {
            promise.succeed(AdminResponse(status: 413, body: Array(#"{"error":"request body too large"}"#.utf8)))
        } else {
            let respond = self.respond
            promise.completeWithTask { await respond(complete.request) }
        }
        let (version, keepAlive) = (complete.version, complete.keepAlive)
        promise.futureResult.whenSuccess { response in
            let context = bound.value
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: "\(response.body.count)")
            headers.add(name: "Cache-Control", value: "no-store")
            for (name, value) in response.headers { headers.add(name: name, value: value) }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let status = HTTPResponseStatus(statusCode: response.status)
            context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
            let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive { done.whenComplete { _ in bound.value.close(promise: nil) } }
        }
    }
}
