#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore

/// Where a client connects: a TCP address (an exchanger, a smarthost, an LMTP server on the
/// network) or a Unix socket (Dovecot's `/run/dovecot/lmtp`).
public enum ClientEndpoint: Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// Delivers messages to one SMTP (or LMTP) server over one connection.
public enum SMTPClient {
    /// Connects to `host:port` (an IP address), runs a `ClientSession` for `messages`, and returns
    /// what became of them. A connection that cannot be made counts as "not prepared".
    public static func deliver(
        host: String, port: Int, heloName: String, messages: [OutgoingMessage], timeouts: ClientTimeouts = ClientTimeouts(),
        tls: ClientTLS? = nil, credentials: ClientCredentials? = nil, group: EventLoopGroup, logger: Logger,
        openReader: @escaping @Sendable (Int) throws -> OutgoingMessageReader
    ) async -> ClientResult {
        await deliver(
            to: .tcp(host: host, port: port), heloName: heloName, messages: messages, timeouts: timeouts, tls: tls,
            credentials: credentials, group: group, logger: logger, openReader: openReader)
    }

    /// The same, to any endpoint and in either dialect (LMTP: one outcome per recipient after the
    /// data, RFC 2033). `messageFinished` hears each message's outcomes as soon as the server
    /// gives them (on the event loop: keep it short); the result has them all again.
    public static func deliver(
        to endpoint: ClientEndpoint, dialect: ClientSession.Dialect = .smtp, heloName: String, messages: [OutgoingMessage],
        timeouts: ClientTimeouts = ClientTimeouts(), tls: ClientTLS? = nil, credentials: ClientCredentials? = nil,
        group: EventLoopGroup, logger: Logger, openReader: @escaping @Sendable (Int) throws -> OutgoingMessageReader,
        messageFinished: (@Sendable (Int, [RecipientOutcome]) -> Void)? = nil
    ) async -> ClientResult {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: ClientResult.self)
        let session = ClientSession(
            heloName: heloName, messages: messages, useStartTLS: tls != nil, requireTLS: tls?.required ?? false, credentials: credentials,
            dialect: dialect)
        var startTLS: (@Sendable (Channel) -> EventLoopFuture<Void>)?
        if let tls {
            startTLS = { channel in TLSHandshake.startClient(on: channel, context: tls.context, serverHostname: tls.serverHostname) }
        }
        let startTLSOnChannel = startTLS
        var logger = logger
        logger[metadataKey: "relay"] = .string(endpoint.description)
        let connectLogger = logger
        var bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(timeouts.connect)
        if case .tcp = endpoint { bootstrap = bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1) }
        bootstrap = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    SMTPClientHandler(
                        session: session, timeouts: timeouts, openReader: openReader, promise: promise, logger: connectLogger,
                        startTLS: startTLSOnChannel, messageFinished: messageFinished))
            }
        }
        do {
            switch endpoint {
            case .tcp(let host, let port): _ = try await bootstrap.connect(host: host, port: port).get()
            case .unix(let path): _ = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            let reason = Self.describe(error)
            var result = ClientResult(notPrepared: Reply.Client.connectFailed("\(endpoint)", reason), unreachable: reason)
            result.transcript.note("cannot connect to \(endpoint): \(reason)", at: 0)
            promise.succeed(result)
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            let reason = Self.describe(error)
            return ClientResult(notPrepared: Reply.Client.connectionLost("\(endpoint): \(reason)"), unreachable: reason)
        }
    }

    /// A connection error as the system says it (`Connection refused`), not as a library type.
    static func describe(_ error: Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            if let dns = error.dnsAError ?? error.dnsAAAAError { return describe(dns) }
            return "no address to connect to"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case ChannelError.connectTimeout:
            return String(cString: strerror(ETIMEDOUT))
        default:
            return "\(error)"
        }
    }
}

/// How the client uses STARTTLS with one server.
public struct ClientTLS: Sendable {
    public var context: NIOSSLContext
    /// Refuse to deliver without TLS.
    public var required: Bool
    /// The name to send (SNI) and, with a verifying context, to check the certificate against.
    public var serverHostname: String?

    public init(context: NIOSSLContext, required: Bool, serverHostname: String?) {
        self.context = context
        self.required = required
        self.serverHostname = serverHostname
    }
}

/// Reads a message from memory (tests, small generated messages).
public final class BufferMessageReader: OutgoingMessageReader {
    private let buffer: ByteBuffer
    private let sent = NIOLockedValueBox(false)

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public func next(on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer?> {
        let first = sent.withLockedValue { sent in
            defer { sent = true }
            return !sent
        }
        return eventLoop.makeSucceededFuture(first ? buffer : nil)
    }

    public func close() {}
}
