#if canImport(Glibc)
import Glibc
#endif
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
    /// What new connections get; `update(configuration:)` changes it for the next ones.
    public var configuration: SMTPServerConfiguration { current.withLockedValue { $0 } }
    private let current: NIOLockedValueBox<SMTPServerConfiguration>
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
        self.current = NIOLockedValueBox(configuration)
        self.delegate = delegate
        self.group = group
        self.logger = logger
        self.limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerClient: configuration.maxConnectionsPerClient)
        self.quiesce = ServerQuiescingHelper(group: group)
        self.startTLS = startTLS
    }

    /// Replaces the configuration for connections accepted from now on (a reload): sessions in
    /// progress keep theirs; the connection limits apply to the next connection.
    public func update(configuration: SMTPServerConfiguration) {
        current.withLockedValue { $0 = configuration }
        limiter.setLimits(maxTotal: configuration.maxConnections, maxPerClient: configuration.maxConnectionsPerClient)
    }

    /// A listener that could not be bound: the address and the system's reason, for an operator.
    public struct BindError: Error, CustomStringConvertible, Sendable {
        public var address: String
        public var reason: String
        public var description: String { "cannot listen on \(address): \(reason)" }

        public init(address: String, reason: String) {
            self.address = address
            self.reason = reason
        }
    }

    /// Listens on `host:port` (port 0 picks a free one); returns the bound address. With `tls`,
    /// the connection is encrypted from its start (implicit TLS, RFC 8314), with the context `tls`
    /// returns when the connection arrives (so that a reload can replace it). With
    /// `requireAuthentication` it is a submission port (RFC 6409): AUTH comes before MAIL.
    ///
    /// With `accepting: false` the socket is bound and listening (clients wait in its backlog) but
    /// no connection is taken until `startAccepting()`: a server binds its ports before it touches
    /// its data, so that a port in use stops it before anything has changed.
    public func bind(
        host: String, port: Int, implicitTLS tls: (@Sendable () -> NIOSSLContext)? = nil, requireAuthentication: Bool = false, accepting: Bool = true
    ) async throws -> SocketAddress {
        let bootstrap = makeBootstrap(implicitTLS: tls, requireAuthentication: requireAuthentication, accepting: accepting)
        let channel: Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch let error as IOError {
            throw BindError(address: Self.describe(host: host, port: port), reason: String(cString: strerror(error.errnoCode)))
        } catch let error as SocketAddressError {
            throw BindError(address: Self.describe(host: host, port: port), reason: "\(error)")
        }
        return try listening(on: channel, described: host, port: port)
    }

    /// Serves on a socket that is already bound and listening (socket activation: systemd passes
    /// it as a descriptor), with the same options as `bind`.
    public func listen(
        onDescriptor descriptor: CInt, implicitTLS tls: (@Sendable () -> NIOSSLContext)? = nil, requireAuthentication: Bool = false,
        accepting: Bool = true
    ) async throws -> SocketAddress {
        let bootstrap = makeBootstrap(implicitTLS: tls, requireAuthentication: requireAuthentication, accepting: accepting)
        let channel: Channel
        do {
            channel = try await bootstrap.withBoundSocket(descriptor).get()
        } catch let error as IOError {
            throw BindError(address: "descriptor \(descriptor)", reason: String(cString: strerror(error.errnoCode)))
        }
        return try listening(on: channel, described: "descriptor \(descriptor)", port: 0)
    }

    private func listening(on channel: Channel, described host: String, port: Int) throws -> SocketAddress {
        channels.withLockedValue { $0.append(channel) }
        guard let address = channel.localAddress else { throw ChannelError.ioOnClosedChannel }
        logger.info("listening", metadata: ["address": .string(Self.describe(host: address.ipAddress ?? host, port: address.port ?? port))])
        return address
    }

    private func makeBootstrap(implicitTLS tls: (@Sendable () -> NIOSSLContext)?, requireAuthentication: Bool, accepting: Bool)
        -> ServerBootstrap
    {
        let quiesce = self.quiesce
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.autoRead, value: accepting)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            // A client that sends its last commands and then shuts down its sending side still
            // gets every answer (the handler closes once they are written): without this, NIO
            // would close at the FIN and drop the 250 of a message already being committed.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                let id = nextConnectionID.withLockedValue { n -> UInt64 in
                    n += 1
                    return n
                }
                var configuration = self.current.withLockedValue { $0 }
                if tls != nil { configuration.session.implicitTLS = true }
                if requireAuthentication { configuration.session.requiresAuthentication = true }
                let handler = SMTPServerHandler(
                    configuration: configuration, delegate: delegate, limiter: limiter, connectionID: id, logger: logger,
                    startTLS: startTLS)
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try TLSHandshake.addServerHandlers(to: channel.pipeline.syncOperations, context: tls(), position: .last) }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
    }

    /// `127.0.0.1:25`, `[::1]:25`.
    static func describe(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Starts taking connections on listeners bound with `accepting: false`.
    public func startAccepting() async throws {
        for channel in channels.withLockedValue({ $0 }) {
            try await channel.setOption(.autoRead, value: true).get()
        }
    }

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
