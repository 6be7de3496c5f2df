import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL

/// A listening SMTP server: one or more bound sockets whose connections each run an
/// `SMTPServerHandler`. Shutdown stops accepting, lets sessions finish within the grace period
/// (idle ones get `421` at once), and completes when every connection is closed.
public final class SMTPServer: Sendable {
    public let configuration: SMTPServerConfiguration
    private let delegate: SMTPServerDelegate
    private let group: EventLoopGroup
    private let logger: Logger
    private let limiter: ConnectionLimiter
    private let quiesce: ServerQuiescingHelper
    private let nextConnectionID = NIOLockedValueBox<UInt64>(0)
    private let channels = NIOLockedValueBox<[Channel]>([])
    private let startTLS: (@Sendable (Channel) -> EventLoopFuture<Void>)?

    public init(
        configuration: SMTPServerConfiguration, delegate: SMTPServerDelegate, group: EventLoopGroup, logger: Logger,
        startTLS: (@Sendable (Channel) -> EventLoopFuture<Void>)? = nil
    ) {
        self.configuration = configuration
        self.delegate = delegate
        self.group = group
        self.logger = logger
        self.limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerClient: configuration.maxConnectionsPerClient)
        self.quiesce = ServerQuiescingHelper(group: group)
        self.startTLS = startTLS
    }

    /// Listens on `host:port` (port 0 picks a free one); returns the bound address. With `tls`,
    /// the connection is encrypted from its start (implicit TLS, RFC 8314). With
    /// `requireAuthentication` it is a submission port (RFC 6409): AUTH comes before MAIL.
    public func bind(
        host: String, port: Int, implicitTLS tls: NIOSSLContext? = nil, requireAuthentication: Bool = false
    ) async throws -> SocketAddress {
        let quiesce = self.quiesce
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [self] channel in
                let id = nextConnectionID.withLockedValue { n -> UInt64 in
                    n += 1
                    return n
                }
                var configuration = self.configuration
                if tls != nil { configuration.session.implicitTLS = true }
                if requireAuthentication { configuration.session.requiresAuthentication = true }
                let handler = SMTPServerHandler(
                    configuration: configuration, delegate: delegate, limiter: limiter, connectionID: id, logger: logger,
                    startTLS: startTLS)
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try TLSHandshake.addServerHandlers(to: channel.pipeline.syncOperations, context: tls, position: .last) }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        channels.withLockedValue { $0.append(channel) }
        guard let address = channel.localAddress else { throw ChannelError.ioOnClosedChannel }
        let ip = address.ipAddress ?? host
        logger.info("listening", metadata: ["address": .string(ip.contains(":") ? "[\(ip)]:\(address.port ?? port)" : "\(ip):\(address.port ?? port)")])
        return address
    }

    /// Connections open now.
    public var connectionCount: Int { limiter.current }

    /// Connections open now, and the most open at once since the last call.
    public func takeConnectionPeak() -> (current: Int, peak: Int) { limiter.takePeak() }

    /// Stops accepting, lets sessions finish (bounded by the grace period), and returns when all
    /// connections are closed.
    public func shutdown() async {
        guard !channels.withLockedValue({ $0.isEmpty }) else { return }
        let promise = group.next().makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: promise)
        try? await promise.futureResult.get()
        channels.withLockedValue { $0.removeAll() }
    }
}
