#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SMTPCore

/// Delivers messages to one SMTP server over one connection.
public enum SMTPClient {
    /// Connects to `host:port` (an IP address), runs a `ClientSession` for `messages`, and returns
    /// what became of them. A connection that cannot be made counts as "not prepared".
    public static func deliver(
        host: String, port: Int, heloName: String, messages: [OutgoingMessage], timeouts: ClientTimeouts = ClientTimeouts(),
        tls: ClientTLS? = nil, credentials: ClientCredentials? = nil, group: EventLoopGroup, logger: Logger,
        openReader: @escaping @Sendable (Int) throws -> OutgoingMessageReader
    ) async -> ClientResult {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: ClientResult.self)
        let session = ClientSession(
            heloName: heloName, messages: messages, useStartTLS: tls != nil, requireTLS: tls?.required ?? false, credentials: credentials)
        var startTLS: (@Sendable (Channel) -> EventLoopFuture<Void>)?
        if let tls {
            startTLS = { channel in TLSHandshake.startClient(on: channel, context: tls.context, serverHostname: tls.serverHostname) }
        }
        let startTLSOnChannel = startTLS
        var logger = logger
        logger[metadataKey: "relay"] = "\(host):\(port)"
        let connectLogger = logger
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeouts.connect)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPClientHandler(
                            session: session, timeouts: timeouts, openReader: openReader, promise: promise, logger: connectLogger,
                            startTLS: startTLSOnChannel))
                }
            }
        do {
            _ = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            let reason = Self.describe(error)
            promise.succeed(ClientResult(notPrepared: Reply(451, .init(4, 4, 1), "connect to \(host):\(port): \(reason)"), unreachable: reason))
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            let reason = Self.describe(error)
            return ClientResult(notPrepared: Reply(451, .init(4, 4, 2), "\(host):\(port): \(reason)"), unreachable: reason)
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
