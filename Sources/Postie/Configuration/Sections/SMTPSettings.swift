import Delivery
import SMTPCore

/// `[smtp]`: the listeners for mail from other machines and the limits of every SMTP session
/// (submission listeners share these limits).
public struct SMTPSettings: Sendable {
    public var listen: [HostAndPort] = [HostAndPort(host: "127.0.0.1", port: 2525)]
    /// Listeners where TLS starts with the connection (RFC 8314 implicit TLS, port 465).
    public var tlsListen: [HostAndPort] = []
    public var maxConnections = 1000
    public var maxConnectionsPerClient = 20
    /// Seconds.
    public var commandTimeout = 300
    public var dataTimeout = 180
    /// Seconds the whole DATA phase of one message may take.
    public var dataPhaseLimit = 1800
    public var shutdownGrace = 30
    public var limits = SMTPLimits()
    /// Loop guard: more `Received:` fields than this and the message is refused (`554 5.4.6`).
    public var maxReceivedHeaders = 100
    /// MAIL and RCPT need `<address>`; by default a bare address is taken too, as Postfix and
    /// chasquid take it.
    public var strictAddressSyntax = false
    /// Unauthenticated clients outside the trusted networks may not use a sender address in one
    /// of our own domains (refused at RCPT). Off by default: mail forwarded from elsewhere
    /// without SRS keeps such senders, and only SPF/DKIM can tell forwarders from forgers.
    public var refuseStrangersWithLocalSenders = false

    public init() {}
}

/// `[submission]`: listeners for mail from our own users (RFC 6409): STARTTLS, and AUTH before
/// MAIL.
public struct SubmissionSettings: Sendable {
    public var listen: [HostAndPort] = []
    /// Where TLS starts with the connection (RFC 8314, port 465).
    public var tlsListen: [HostAndPort] = []

    public init() {}
}

/// `[recipients]`: how local addresses are read.
public struct RecipientSettings: Sendable {
    /// `user+tag@domain` reaches `user`; nil: no tags.
    public var delimiter: String? = "+"
    /// The domain whose postmaster gets reports and whose name completes bare user names;
    /// nil: the first local domain by name.
    public var postmasterDomain: String?

    public init() {}
}
