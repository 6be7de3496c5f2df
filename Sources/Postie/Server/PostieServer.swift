import Delivery
import Foundation
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import NIOSSL
import ServiceLifecycle
import UnixSignals
import Storage

/// What every connection of a running server shares: a class, so that each connection's
/// delegate holds one reference rather than its own copy of the configuration.
final class PostieContext: Sendable {
    /// Read at each transaction: a reload reaches sessions already open from their next message.
    let live: LiveConfiguration
    let spool: Spool
    let queue: QueueRunner
    /// AUTH is offered only when users are configured; it still answers (a refusal) without them.
    let authenticator: Authenticator
    let logger: Logger
    /// For work too slow for an event loop (a message's DKIM signature or ARC seal).
    let threadPool: NIOThreadPool
    /// DNS for the checks of strangers' mail, with the cache relaying shares.
    let resolver: any DNSResolver
    let metrics: PostieMetrics

    init(
        live: LiveConfiguration, spool: Spool, queue: QueueRunner, authenticator: Authenticator, logger: Logger, threadPool: NIOThreadPool,
        resolver: any DNSResolver, metrics: PostieMetrics
    ) {
        self.metrics = metrics
        self.live = live
        self.spool = spool
        self.queue = queue
        self.authenticator = authenticator
        self.logger = logger
        self.threadPool = threadPool
        self.resolver = resolver
    }

    /// What the connection's listener serves (`smtp`, `submission`, …), by its local port.
    func listenerName(_ connection: SMTPConnectionInfo) -> String {
        let port = connection.localAddress?.port
        return (live.snapshot.configuration.listeners.first { $0.address.port == port }?.kind ?? .smtp).rawValue
    }
}

struct PostieDelegateFactory: SMTPServerDelegate {
    let context: PostieContext

    func makeConnectionDelegate(for connection: SMTPConnectionInfo, eventLoop: EventLoop) -> SMTPConnectionDelegate {
        PostieConnectionDelegate(context: context, connection: connection, eventLoop: eventLoop)
    }

    func connectionRefused(_ connection: SMTPConnectionInfo) {
        context.metrics.connection(listener: context.listenerName(connection), outcome: "refused_limit")
        context.metrics.limitHit("connections")
    }
}

/// A whole Postie: spool recovery, the queue, and the SMTP listeners. Run it as a service (it
/// shuts down gracefully on SIGTERM/SIGINT through swift-service-lifecycle, reloads on SIGHUP),
/// or `start()` and `stop()` it when embedding it in another program, and `reload(_:)` it with a
/// new configuration.
public final class PostieServer: Service, Sendable {
    /// The configuration in force (after reloads, the last one applied).
    public var configuration: PostieConfiguration { live.configuration }
    private let live: LiveConfiguration
    private let logger: Logger
    /// Where SIGHUP and `postie reload` read the configuration again (the file and the
    /// command-line overrides); nil when the server was given a configuration in code only.
    private let source: (@Sendable () throws -> PostieConfiguration)?
    private let notifier: SystemdNotifier?
    /// Listening sockets systemd passed; when given, they replace the configured listen addresses.
    private let activation: SocketActivation?

    private struct Running: @unchecked Sendable {
        var lock: DataDirectoryLock
        var threadPool: NIOThreadPool
        var spool: Spool
        var queue: QueueRunner
        var maildir: MaildirDeliverer
        var server: SMTPServer
        var authenticator: Authenticator
        var control: ControlServer
        var trimmer: HeapTrimmer
        var addresses: [SocketAddress]
        var admin: AdminHTTPServer?
        /// Removes delivery transcripts past `[queue] trace_retention`, hourly.
        var traceSweeper: Task<Void, Never>
    }
    private let running = NIOLockedValueBox<Running?>(nil)
    /// The server certificate in use (a reload naming other files replaces it) and the task that
    /// reads its files again now and then.
    private let tls = NIOLockedValueBox<(credentials: TLSCredentials, refresher: Task<Void, Never>)?>(nil)
    /// One reload at a time.
    private let reloading = NIOLockedValueBox(false)
    /// What `/readyz` reports beyond the listeners: the spool recovered, not stopping.
    private let readiness = NIOLockedValueBox((recovered: false, stopping: false))

    /// The server's metrics (`/metrics` on the admin listener shows them).
    public let metrics = PostieMetrics()

    public init(
        configuration: PostieConfiguration, logger: Logger, reloadFrom source: (@Sendable () throws -> PostieConfiguration)? = nil,
        notifier: SystemdNotifier? = SystemdNotifier(), activation: SocketActivation? = nil
    ) {
        self.activation = activation
        self.live = LiveConfiguration(configuration)
        self.logger = logger
        self.source = source
        self.notifier = notifier
    }

    /// The addresses the listeners are bound to (after `start`).
    public var addresses: [SocketAddress] { running.withLockedValue { $0?.addresses ?? [] } }

    /// The addresses the admin listener is bound to (after `start`; none when it is off).
    public var adminAddresses: [SocketAddress] { running.withLockedValue { $0?.admin?.addresses ?? [] } }

    /// Takes the data directory's lock, binds every listener, recovers the spool, starts the
    /// queue and then takes connections. Whatever can stop a start (another Postie on the same
    /// data directory, a certificate that cannot be read, a port in use) is found before the spool,
    /// the Maildirs or the control socket are touched.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        var config = live.configuration
        if !Self.isFullyQualified(config.hostname) {
            logger.warning(
                "hostname is not a fully qualified domain name: receivers refuse such EHLO names; set hostname",
                metadata: ["hostname": .string(config.hostname)])
        }
        let lock = try DataDirectoryLock(directory: config.dataDirectory)
        // Mail is private: a data directory others can read or enter is closed to them. The group's
        // access stays (an IMAP server reading the Maildirs may be given it).
        do {
            if let old = try POSIXFile.removeOthersAccess(config.dataDirectory) {
                logger.warning(
                    "the data directory was open to all users: others' access removed",
                    metadata: ["data_dir": .string(config.dataDirectory), "mode": .string(String(old, radix: 8))])
            }
            try SRSSecret.load(into: &config)
            live.replace(with: config)
        } catch {
            lock.release()
            throw error
        }
        // The process-wide event loops: they live as long as the process, so embedding programs and
        // tests can start and stop servers freely.
        let group = MultiThreadedEventLoopGroup.singleton
        let threadPool = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        threadPool.start()
        var server: SMTPServer?
        var adminServer: AdminHTTPServer?
        do {
            let credentials = try TLSCredentials.load(config.tls, hostname: config.hostname, dataDirectory: config.dataDirectory, logger: logger)
            useCredentials(credentials)
            let metrics = self.metrics
            let spool = try Spool(
                root: config.dataDirectory + "/spool", threadPool: threadPool, logger: logger,
                observeCommit: { messages, seconds in metrics.spoolCommit(messages: messages, seconds: seconds) })
            try Storage.POSIXFile.makeDirectories(config.effectiveMailRoot)
            let writer = MaildirWriter(root: config.effectiveMailRoot, hostname: config.hostname)
            let maildir = try MaildirDeliverer(writer: writer)
            let resolver = SystemDNSResolver(
                configuration: config.dnsConfiguration, threadPool: threadPool,
                observe: { type, result in metrics.dnsLookup(type: type.description, result: result) })
            let settings = live.deliverySettings
            let relay = try RelayTarget(
                settings: settings, resolver: resolver, spool: spool, threadPool: threadPool, group: group, logger: logger,
                observeSession: { metrics.outboundConnection($0) })
            let logger = self.logger
            let targets = DeliveryTargets(
                maildir: MaildirTarget(deliverer: maildir, spool: spool), relay: relay,
                lmtp: { LMTPTarget(endpoint: $0, settings: settings, spool: spool, threadPool: threadPool, group: group, logger: logger) })
            let queue = QueueRunner(
                spool: spool, targets: targets, bouncer: Bouncer(settings: settings, spool: spool, logger: logger), threadPool: threadPool,
                clock: SystemQueueClock(eventLoop: group.next()), settings: settings, logger: logger,
                observe: { event in
                    metrics.delivery(target: event.target, result: event.result).increment()
                    if let seconds = event.attemptSeconds { metrics.attemptDuration(seconds, target: event.target) }
                    if event.result != "deferred" { metrics.timeInQueue(Double(event.delay), target: event.target) }
                })
            let authenticator = Authenticator(
                .init(config.auth, delimiter: config.recipients.delimiter), threadPool: threadPool, logger: logger,
                onLimit: { metrics.limitHit("auth_failures") })
            let context = PostieContext(
                live: live, spool: spool, queue: queue, authenticator: authenticator, logger: logger, threadPool: threadPool,
                resolver: resolver, metrics: metrics)
            let tls = self.tls
            let tlsContext: @Sendable () -> NIOSSLContext = { tls.withLockedValue { $0!.credentials.context } }
            let smtp = SMTPServer(
                configuration: Self.serverConfiguration(config), delegate: PostieDelegateFactory(context: context), group: group,
                logger: logger, startTLS: { channel in TLSHandshake.startServer(on: channel, context: tlsContext()) })
            server = smtp
            let addresses: [SocketAddress]
            if let activation {
                logger.notice(
                    "listening on the sockets systemd passed; the configured listen addresses are not used",
                    metadata: ["sockets": "\(activation.listeners.count)"])
                addresses = try await Self.listen(on: activation, with: smtp, tls: tlsContext)
            } else {
                addresses = try await Self.bindListeners(of: config, on: smtp, tls: tlsContext)
            }

            // The admin listener, bound before anything is touched (a port in use stops the start).
            // The control socket's operations, also the admin API's.
            let controlService = ControlService(
                live: live, reload: { [weak self] in await self?.reload() ?? .refused("the server is stopping") }, spool: spool,
                queue: queue, threadPool: threadPool, logger: logger)
            var admin: AdminHTTPServer?
            if !config.admin.listen.isEmpty {
                var service = AdminService(
                    token: config.admin.token,
                    metrics: { [weak self] in
                        metrics.exposition(queue: self?.queueStatistics ?? QueueStatistics(), now: Int64(Date().timeIntervalSince1970), dnsCache: resolver.cachedAnswers)
                    },
                    readiness: { [weak self] in self?.readinessChecks() ?? .init(checks: [("server", false, "gone")]) })
                service.control = { await controlService.handle($0) }
                admin = try await AdminHTTPServer.start(
                    on: config.admin.listen.map { ($0.host, $0.port) }, group: group, logger: logger, respond: service.respond)
            }
            adminServer = admin

            let dead = try await threadPool.runIfActive { writer.removeDeadWrites() }
            if !dead.isEmpty {
                logger.notice("removed unfinished Maildir writes of an earlier run", metadata: ["count": "\(dead.count)"])
            }
            let recovered = try await threadPool.runIfActive { try spool.recover() }
            if !recovered.isEmpty {
                logger.info("recovered messages from the spool", metadata: ["count": "\(recovered.count)"])
            }
            for envelope in recovered { queue.enqueue(envelope) }
            readiness.withLockedValue { $0 = (recovered: true, stopping: false) }
            let control = try await ControlServer(
                path: config.controlSocket,
                service: controlService,
                spool: spool, idleTimeout: smtp.configuration.commandTimeout,
                maxBuffered: smtp.configuration.maxBufferedMessageBytes, group: group)
            let trimmer = HeapTrimmer(
                connections: { smtp.takeConnectionPeak() }, eventLoop: group.next(), threadPool: threadPool, logger: logger)
            running.withLockedValue {
                $0 = Running(
                    lock: lock, threadPool: threadPool, spool: spool, queue: queue, maildir: maildir, server: smtp,
                    authenticator: authenticator, control: control, trimmer: trimmer, addresses: addresses, admin: admin,
                    traceSweeper: Self.sweepTraces(spool, threadPool: threadPool, live: live, logger: logger))
            }
            try await smtp.startAccepting()
            logger.info(
                "postie started",
                metadata: [
                    "version": .string(PostieVersion.current),
                    "hostname": .string(config.hostname), "data_dir": .string(config.dataDirectory),
                    "mail_root": .string(config.effectiveMailRoot),
                    "domains": .string(config.domains.keys.sorted().joined(separator: ",")),
                ])
            return addresses
        } catch {
            running.withLockedValue { $0 = nil }
            await adminServer?.stop()
            await server?.shutdown()
            stopRefreshingCredentials()
            try? await threadPool.shutdownGracefully()
            lock.release()
            throw error
        }
    }

    /// Every hour, the transcripts of messages gone from the queue longer than `[queue]
    /// trace_retention` go too (at once when it is 0).
    static func sweepTraces(_ spool: Spool, threadPool: NIOThreadPool, live: LiveConfiguration, logger: Logger) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let retention = Int64(live.configuration.queue.traceRetention)
                let removed = (try? await threadPool.runIfActive { spool.removeTraces(olderThan: retention, now: Int64(Date().timeIntervalSince1970)) }) ?? 0
                if removed > 0 { logger.info("removed old delivery transcripts", metadata: ["count": "\(removed)"]) }
                try? await Task.sleep(for: .seconds(3600))
            }
        }
    }

    /// The queue's figures for the metrics.
    var queueStatistics: QueueStatistics {
        running.withLockedValue { $0?.queue.statistics } ?? QueueStatistics()
    }

    /// What `/readyz` checks: listening, the spool recovered, its file system writable with room
    /// for a message of the largest size, not stopping.
    func readinessChecks() -> AdminService.Readiness {
        let (recovered, stopping) = readiness.withLockedValue { ($0.recovered, $0.stopping) }
        let listening = running.withLockedValue { $0 != nil }
        let config = configuration
        let spool = config.dataDirectory + "/spool"
        var room = false
        var roomDetail = "cannot read the file system's figures"
        var fs = statvfs()
        if statvfs(spool, &fs) == 0 {
            let free = Int(fs.f_bavail) * Int(fs.f_frsize)
            let needed = config.smtp.limits.maxMessageSize
            room = free >= needed && access(spool, W_OK) == 0
            roomDetail = "\(free / (1024 * 1024)) MiB free, \(needed / (1024 * 1024)) MiB needed"
        }
        return AdminService.Readiness(checks: [
            ("listening", listening, listening ? "accepting connections" : "not listening"),
            ("spool_recovered", recovered, recovered ? "recovered" : "not yet recovered"),
            ("spool_space", room, roomDetail),
            ("not_stopping", !stopping, stopping ? "shutting down" : "running"),
        ])
    }

    /// A host name with at least two labels (`mx.example.com`), as EHLO needs (RFC 5321 §4.1.1.1).
    static func isFullyQualified(_ hostname: String) -> Bool {
        let labels = hostname.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty } && hostname.lowercased() != "localhost.localdomain"
    }

    /// Puts a certificate in use and keeps its files under watch; the one it replaces stops.
    private func useCredentials(_ credentials: TLSCredentials) {
        let refresher = Task<Void, Never> { _ = try? await credentials.reloader.run() }
        let old = tls.withLockedValue { current in
            defer { current = (credentials, refresher) }
            return current
        }
        old?.refresher.cancel()
    }

    private func stopRefreshingCredentials() {
        tls.withLockedValue { $0?.refresher.cancel() }
    }

    static func serverConfiguration(_ config: PostieConfiguration) -> SMTPServerConfiguration {
        serverConfiguration(config.smtp, hostname: config.hostname, offersAuth: !config.auth.users.isEmpty)
    }

    /// What the listeners' sessions get from `[smtp]` (AUTH is offered only with users).
    static func serverConfiguration(_ smtp: SMTPSettings, hostname: String, offersAuth: Bool) -> SMTPServerConfiguration {
        var serverConfig = SMTPServerConfiguration(
            session: ServerSessionConfiguration(
                hostname: hostname, limits: smtp.limits,
                extensions: AdvertisedExtensions(startTLS: true, auth: offersAuth ? SASLExchange.supportedMechanisms : [], dsn: true)))
        serverConfig.commandTimeout = .seconds(Int64(smtp.commandTimeout))
        serverConfig.dataTimeout = .seconds(Int64(smtp.dataTimeout))
        serverConfig.dataPhaseLimit = .seconds(Int64(smtp.dataPhaseLimit))
        serverConfig.shutdownGrace = .seconds(Int64(smtp.shutdownGrace))
        serverConfig.maxConnections = smtp.maxConnections
        serverConfig.maxConnectionsPerClient = smtp.maxConnectionsPerClient
        serverConfig.session.strictAddressSyntax = smtp.strictAddressSyntax
        return serverConfig
    }

    /// Binds every configured listener, not yet accepting.
    private static func bindListeners(
        of config: PostieConfiguration, on server: SMTPServer, tls: @escaping @Sendable () -> NIOSSLContext
    ) async throws -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        for (address, kind) in config.listeners {
            addresses.append(
                try await server.bind(
                    host: address.host, port: address.port, implicitTLS: kind.implicitTLS ? tls : nil,
                    requireAuthentication: kind.requiresAuthentication, accepting: false))
        }
        return addresses
    }

    /// Serves on the sockets systemd passed, each as its name says, not yet accepting.
    private static func listen(
        on activation: SocketActivation, with server: SMTPServer, tls: @escaping @Sendable () -> NIOSSLContext
    ) async throws -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        for listener in activation.listeners {
            addresses.append(
                try await server.listen(
                    onDescriptor: listener.descriptor, implicitTLS: listener.kind.implicitTLS ? tls : nil,
                    requireAuthentication: listener.kind.requiresAuthentication, accepting: false))
        }
        return addresses
    }

    // MARK: Reload

    /// Reads the configuration again from where the server was started (SIGHUP, `postie reload`)
    /// and applies it; a file that does not load is refused and the running configuration stays.
    public func reload() async -> ReloadReport {
        guard let source else { return .refused("this server was not started from a configuration file") }
        let configuration: PostieConfiguration
        do {
            configuration = try source()
        } catch {
            logger.error("reload refused: the configuration has errors; the running one stays", metadata: ["error": .string("\(error)")])
            return .refused("\(error)")
        }
        return await reload(configuration)
    }

    /// Applies a new configuration to new transactions without closing listeners or sessions:
    /// domains, users, aliases, routes, relay and TLS policy, trusted networks, AUTH users,
    /// limits, timeouts, the certificate. Keys that need a restart (`ConfigurationChanges`) keep
    /// their running values and are named in a warning.
    public func reload(_ new: PostieConfiguration) async -> ReloadReport {
        guard reloading.withLockedValue({ busy in
            defer { busy = true }
            return !busy
        }) else { return .refused("a reload is already under way") }
        defer { reloading.withLockedValue { $0 = false } }
        guard let r = running.withLockedValue({ $0 }) else { return .refused("the server is not running") }
        notifier?.send(SystemdNotifier.reloading())
        defer { notifier?.send("READY=1\nSTATUS=accepting mail") }
        let old = live.configuration
        let changes = ConfigurationChanges(from: old, to: new)
        var applied = ConfigurationChanges.applicable(new, running: old)
        do {
            try SRSSecret.load(into: &applied)
        } catch {
            logger.error("reload refused: the running configuration stays", metadata: ["error": .string("\(error)")])
            return .refused("SRS secret: \(error)")
        }
        // The certificate first: it is the one part that can still fail.
        var credentials: TLSCredentials?
        if old.tls != applied.tls {
            do {
                credentials = try TLSCredentials.load(applied.tls, hostname: applied.hostname, dataDirectory: applied.dataDirectory, logger: logger)
            } catch {
                logger.error("reload refused: the running configuration stays", metadata: ["error": .string("\(error)")])
                return .refused("\(error)")
            }
        } else if let current = tls.withLockedValue({ $0?.credentials }) {
            // The same files: read them now, so that a renewed certificate is in use from here on.
            try? current.reloader.reload()
        }
        live.replace(with: applied)
        r.authenticator.update(.init(applied.auth, delimiter: applied.recipients.delimiter))
        r.server.update(configuration: Self.serverConfiguration(applied))
        if let credentials { useCredentials(credentials) }
        logger.notice(
            changes.changed.isEmpty ? "configuration reloaded: nothing changed" : "configuration reloaded",
            metadata: ["changed": .string(changes.changed.joined(separator: ","))])
        if !changes.needRestart.isEmpty {
            logger.warning(
                "these changes take effect only after a restart", metadata: ["keys": .string(changes.needRestart.joined(separator: ","))])
        }
        return ReloadReport(ok: true, error: nil, changed: changes.changed, needRestart: changes.needRestart)
    }

    // MARK: Stopping

    /// Stops accepting, lets sessions finish within the grace period, finishes deliveries under
    /// way and releases everything.
    public func stop() async {
        guard let r = running.withLockedValue({ value -> Running? in
            defer { value = nil }
            return value
        }) else { return }
        logger.info("shutting down")
        readiness.withLockedValue { $0.stopping = true }
        r.traceSweeper.cancel()
        r.trimmer.cancel()
        stopRefreshingCredentials()
        await r.server.shutdown()
        await r.control.close()
        await r.admin?.stop()
        await r.queue.shutdown(grace: Int64(configuration.smtp.shutdownGrace))
        // Deliveries already handed to the Maildir thread finish; later ones are refused (and
        // stay in the spool for the next start). Its stop blocks: off the cooperative pool.
        let maildir = r.maildir
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                maildir.stop()
                done.resume()
            }
        }
        r.spool.close()
        try? await r.threadPool.shutdownGracefully()
        r.lock.release()
        logger.info("stopped")
    }

    /// Waits until all queued local deliveries under way are done (for tests and tools).
    public func waitForDeliveries() async {
        guard let queue = running.withLockedValue({ $0?.queue }) else { return }
        await queue.waitUntilIdle()
    }

    /// Messages whose next attempt waits on a timer (the queue's schedule): none left means
    /// nothing more will be sent unless new mail comes or an operator flushes.
    public var scheduledDeliveries: Int { running.withLockedValue { $0?.queue.scheduled } ?? 0 }

    /// The `Service` entry point: start, then serve until graceful shutdown (SIGTERM, SIGINT),
    /// reloading on SIGHUP; SIGUSR1, SIGUSR2 and SIGALRM are logged and otherwise ignored (their
    /// default action would end the process in the middle of sessions). Then stop.
    public func run() async throws {
        // Trapped before anything else, so that no early HUP can end the process.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2, .sigalrm)
        try await start()
        notifier?.send("READY=1\nSTATUS=accepting mail")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await signal in signals {
                    if signal == .sighup {
                        _ = await reload()
                    } else {
                        logger.notice("signal ignored", metadata: ["signal": .string("\(signal)")])
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        notifier?.send("STOPPING=1\nSTATUS=shutting down")
        await stop()
    }
}
