import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import NIOSSL
import ServiceLifecycle
import Storage

/// What every connection of a running server shares: a class, so that each connection's
/// delegate holds one reference rather than its own copy of the configuration.
final class PostieContext: Sendable {
    let configuration: PostieConfiguration
    let directory: LocalDirectory
    let spool: Spool
    let queue: QueueRunner
    /// Nil when no users are configured (AUTH is not offered).
    let authenticator: Authenticator?
    let logger: Logger

    init(
        configuration: PostieConfiguration, directory: LocalDirectory, spool: Spool, queue: QueueRunner,
        authenticator: Authenticator?, logger: Logger
    ) {
        self.configuration = configuration
        self.directory = directory
        self.spool = spool
        self.queue = queue
        self.authenticator = authenticator
        self.logger = logger
    }
}

struct PostieDelegateFactory: SMTPServerDelegate {
    let context: PostieContext

    func makeConnectionDelegate(for connection: SMTPConnectionInfo, eventLoop: EventLoop) -> SMTPConnectionDelegate {
        PostieConnectionDelegate(context: context, connection: connection, eventLoop: eventLoop)
    }
}

/// A whole Postie: spool recovery, the queue, and the SMTP listeners. Run it as a service (it
/// shuts down gracefully on SIGTERM/SIGINT through swift-service-lifecycle), or `start()` and
/// `stop()` it when embedding it in another program.
public final class PostieServer: Service, Sendable {
    public let configuration: PostieConfiguration
    private let logger: Logger

    private struct Running: @unchecked Sendable {
        var threadPool: NIOThreadPool
        var spool: Spool
        var queue: QueueRunner
        var server: SMTPServer
        var control: ControlServer
        var trimmer: HeapTrimmer
        var addresses: [SocketAddress]
    }
    private let running = NIOLockedValueBox<Running?>(nil)

    public init(configuration: PostieConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The addresses the listeners are bound to (after `start`).
    public var addresses: [SocketAddress] { running.withLockedValue { $0?.addresses ?? [] } }

    /// Recovers the spool, starts the queue and binds every listener.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        let config = configuration
        // The process-wide event loops: they live as long as the process, so embedding programs and
        // tests can start and stop servers freely.
        let group = MultiThreadedEventLoopGroup.singleton
        let threadPool = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        threadPool.start()
        do {
            let spool = try Spool(root: config.dataDirectory + "/spool", threadPool: threadPool, logger: logger)
            try Storage.POSIXFile.makeDirectories(config.effectiveMailRoot)
            let maildir = try MaildirDeliverer(writer: MaildirWriter(root: config.effectiveMailRoot, hostname: config.hostname))
            var dnsConfig = SystemDNSResolver.Configuration(timeout: config.dnsTimeout, attempts: config.dnsAttempts)
            if let d = config.dnsServer {
                dnsConfig.server = d.host
                dnsConfig.port = d.port
            }
            let resolver = SystemDNSResolver(configuration: dnsConfig, threadPool: threadPool)
            let relay = try RelayAgent(
                configuration: config, resolver: resolver, spool: spool, threadPool: threadPool, group: group, logger: logger)
            let bouncer = Bouncer(configuration: config, directory: config.directory, spool: spool, logger: logger)
            let queue = QueueRunner(
                spool: spool, maildir: maildir, relay: relay, bouncer: bouncer, threadPool: threadPool, eventLoop: group.next(),
                logger: logger, configuration: config)
            let recovered = try await threadPool.runIfActive { try spool.recover() }
            if !recovered.isEmpty {
                logger.info("recovered messages from the spool", metadata: ["count": "\(recovered.count)"])
            }
            for envelope in recovered { queue.enqueue(envelope) }

            let authenticator = config.users.isEmpty ? nil : Authenticator(configuration: config, threadPool: threadPool, logger: logger)
            let context = PostieContext(
                configuration: config, directory: config.directory, spool: spool, queue: queue, authenticator: authenticator, logger: logger)
            let credentials = try TLSCredentials.load(configuration: config, logger: logger)
            let tlsContext = try credentials.serverContext()
            var serverConfig = SMTPServerConfiguration(
                session: ServerSessionConfiguration(
                    hostname: config.hostname, limits: config.limits, extensions: AdvertisedExtensions(
                        startTLS: true, auth: config.users.isEmpty ? [] : SASLExchange.supportedMechanisms, dsn: true)))
            serverConfig.commandTimeout = .seconds(Int64(config.commandTimeout))
            serverConfig.dataTimeout = .seconds(Int64(config.dataTimeout))
            serverConfig.dataPhaseLimit = .seconds(Int64(config.dataPhaseLimit))
            serverConfig.shutdownGrace = .seconds(Int64(config.shutdownGrace))
            serverConfig.maxConnections = config.maxConnections
            serverConfig.maxConnectionsPerClient = config.maxConnectionsPerClient
            let server = SMTPServer(
                configuration: serverConfig, delegate: PostieDelegateFactory(context: context), group: group, logger: logger,
                startTLS: { channel in TLSHandshake.startServer(on: channel, context: tlsContext) })
            let control = try await ControlServer(
                path: config.controlSocket,
                service: ControlService(
                    configuration: config, directory: config.directory, spool: spool, queue: queue, threadPool: threadPool, logger: logger),
                group: group)
            var addresses: [SocketAddress] = []
            for listen in config.listen {
                addresses.append(try await server.bind(host: listen.host, port: listen.port))
            }
            for listen in config.tlsListen {
                addresses.append(try await server.bind(host: listen.host, port: listen.port, implicitTLS: tlsContext))
            }
            for listen in config.submissionListen {
                addresses.append(try await server.bind(host: listen.host, port: listen.port, requireAuthentication: true))
            }
            for listen in config.submissionTLSListen {
                addresses.append(
                    try await server.bind(host: listen.host, port: listen.port, implicitTLS: tlsContext, requireAuthentication: true))
            }
            let trimmer = HeapTrimmer(
                connections: { server.takeConnectionPeak() }, eventLoop: group.next(), threadPool: threadPool, logger: logger)
            running.withLockedValue {
                $0 = Running(
                    threadPool: threadPool, spool: spool, queue: queue, server: server, control: control, trimmer: trimmer,
                    addresses: addresses)
            }
            logger.info(
                "postie started",
                metadata: [
                    "hostname": .string(config.hostname), "data_dir": .string(config.dataDirectory),
                    "mail_root": .string(config.effectiveMailRoot),
                    "domains": .string(config.domains.keys.sorted().joined(separator: ",")),
                ])
            return addresses
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting, lets sessions finish within the grace period, finishes deliveries under
    /// way and releases everything.
    public func stop() async {
        guard let r = running.withLockedValue({ value -> Running? in
            defer { value = nil }
            return value
        }) else { return }
        logger.info("shutting down")
        r.trimmer.cancel()
        await r.server.shutdown()
        await r.control.close()
        await r.queue.shutdown(grace: Int64(configuration.shutdownGrace))
        r.spool.close()
        try? await r.threadPool.shutdownGracefully()
        logger.info("stopped")
    }

    /// Waits until all queued local deliveries under way are done (for tests and tools).
    public func waitForDeliveries() async {
        guard let queue = running.withLockedValue({ $0?.queue }) else { return }
        await queue.waitUntilIdle()
    }

    /// The `Service` entry point: start, wait for graceful shutdown (SIGTERM, SIGINT), stop.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await stop()
    }
}
