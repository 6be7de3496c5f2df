import Logging
import NIOCore
import SMTPCore

/// How a listener behaves: the session rules, timeouts and connection limits.
public struct SMTPServerConfiguration: Sendable {
    public var session: ServerSessionConfiguration
    /// Waiting for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    public var commandTimeout: TimeAmount = .minutes(5)
    /// Waiting for the next chunk of message data (RFC 5321 §4.5.3.2.6: at least 3 minutes).
    public var dataTimeout: TimeAmount = .minutes(3)
    /// The whole DATA (or BDAT) phase of one message, however steadily the data trickles in.
    public var dataPhaseLimit: TimeAmount = .minutes(30)
    /// Connections at once, in total and from one client address.
    public var maxConnections = 1000
    public var maxConnectionsPerClient = 20
    /// After shutdown begins, how long a transaction in flight may take before it is cut off.
    public var shutdownGrace: TimeAmount = .seconds(30)
    /// Message octets waiting for the disk before the connection stops reading.
    public var maxBufferedMessageBytes = 4 * 1024 * 1024

    public init(session: ServerSessionConfiguration) {
        self.session = session
    }
}

/// Who is on the other end of a connection.
public struct SMTPConnectionInfo: Sendable {
    /// A number unique within the process, for logs.
    public var id: UInt64
    public var remoteAddress: SocketAddress?
    public var localAddress: SocketAddress?
    /// The server's logger with this connection's `conn` and `client` metadata: a delegate that
    /// logs through it (or a copy) shares the metadata's storage instead of making its own.
    public var logger: Logger

    /// The client's IP address as text (`192.0.2.1`, `2001:db8::1`), or `unknown`.
    public var remoteIP: String { remoteAddress?.ipAddress ?? "unknown" }

    public init(id: UInt64, remoteAddress: SocketAddress?, localAddress: SocketAddress?, logger: Logger) {
        self.id = id
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.logger = logger
    }
}

/// Makes the per-connection delegate that decides recipients and stores messages.
public protocol SMTPServerDelegate: Sendable {
    func makeConnectionDelegate(for connection: SMTPConnectionInfo, eventLoop: EventLoop) -> SMTPConnectionDelegate
    /// A connection was turned away at the greeting (too many connections), for metrics.
    func connectionRefused(_ connection: SMTPConnectionInfo)
}

extension SMTPServerDelegate {
    public func connectionRefused(_ connection: SMTPConnectionInfo) {}
}

/// The mail side of one connection. All calls come on the connection's event loop.
public protocol SMTPConnectionDelegate: AnyObject {
    /// A positive reply accepts the recipient.
    func checkRecipient(_ recipient: AcceptedRecipient, transaction: SessionTransaction, session: ServerSession) -> EventLoopFuture<Reply>
    func beginMessage(_ start: MessageStart, session: ServerSession)
    func messageData(_ data: ByteBuffer)
    /// Octets given to `messageData` not yet written; the connection stops reading above a limit.
    var bufferedMessageBytes: Int { get }
    /// Set by the connection: call when buffered octets were written.
    var onProgress: (() -> Void)? { get set }
    /// The reply for the client: `250` only once the message is durable.
    func commitMessage() -> EventLoopFuture<Reply>
    func abortMessage()
    func connectionClosed()
    /// TLS is up (after STARTTLS, or from the start); version and cipher suite are for the
    /// `Received:` field.
    func tlsEstablished(version: String?, cipher: String?)
    /// Checks AUTH credentials (never log them). Only called when AUTH is advertised.
    func authenticate(_ credentials: SASLCredentials, session: ServerSession) -> EventLoopFuture<AuthenticationOutcome>
    /// A reply went to the client (for metrics).
    func replied(_ reply: Reply)
    /// The session read commands: those in `tally` and not in `earlier` are new (for metrics).
    func commandsRead(_ tally: CommandTally, since earlier: CommandTally)
    /// The client went past a limit and was refused or cut off (for metrics).
    func limitReached(_ limit: SessionLimit)
}

extension SMTPConnectionDelegate {
    public func tlsEstablished(version: String?, cipher: String?) {}
    public func replied(_ reply: Reply) {}
    public func commandsRead(_ tally: CommandTally, since earlier: CommandTally) {}
    public func limitReached(_ limit: SessionLimit) {}
}
