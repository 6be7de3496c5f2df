#if canImport(Glibc)
import Glibc
#endif
import Delivery
import Logging
import MailCore
import SMTPCore

/// Everything an operator can set, with the embedded defaults that make `postie` useful with no
/// file at all: listen on 127.0.0.1:2525, keep data under `./postie-data`, and take mail for
/// `localhost`, with a mailbox for the user running it and for postmaster.
/// `docs/configuration.md` describes every key.
public struct PostieConfiguration: Sendable {
    /// `host:port` or `[v6]:port`.
    public typealias ListenAddress = HostAndPort

    /// Our name in the greeting, EHLO and trace headers.
    public var hostname: String
    /// Spool and (by default) mailboxes live here.
    public var dataDirectory: String
    /// Maildirs: `<mailRoot>/<domain>/<user>/`. Defaults to `<dataDirectory>/mail`.
    public var mailRoot: String?
    public var logLevel: Logger.Level = .info
    /// `text` (swift-log's layout, logfmt values) or `json` (one object per line).
    public var logFormat = PostieLogHandler.Format.text

    public var listen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 2525)]
    /// Listeners where TLS starts with the connection (RFC 8314 implicit TLS, port 465).
    public var tlsListen: [ListenAddress] = []
    /// PEM files of the server's certificate chain and key; without them Postie makes a
    /// self-signed certificate for its host name on first start.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Seconds between readings of the certificate and key files (a renewed certificate is used
    /// from the next handshake on, without a reload).
    public var tlsReloadInterval = 300
    /// Also offer BoringSSL's older TLS 1.2 suites (CBC with SHA-1), for peers that have nothing
    /// better; off: AEAD suites only.
    public var tlsLegacyCiphers = false
    /// Every listener with what it serves, in the order of the keys above and below.
    public var listeners: [(address: ListenAddress, kind: ListenerKind)] {
        listen.map { ($0, .smtp) } + tlsListen.map { ($0, .smtps) } + submissionListen.map { ($0, .submission) }
            + submissionTLSListen.map { ($0, .submissions) }
    }
    /// Submission listeners (RFC 6409): STARTTLS, and AUTH before MAIL.
    public var submissionListen: [ListenAddress] = []
    /// Submission listeners where TLS starts with the connection (RFC 8314, port 465).
    public var submissionTLSListen: [ListenAddress] = []

    /// Someone who may log in with AUTH: a password hash and the addresses they may send as.
    public struct User: Sendable {
        public var password: PasswordHash
        /// Addresses (`info@example.com`) and whole domains (`@example.org`) besides the user's
        /// own name, when that is an address.
        public var sendAs: [String]

        public init(password: PasswordHash, sendAs: [String] = []) {
            self.password = password
            self.sendAs = sendAs
        }
    }
    /// Users by name, lower case. AUTH is offered (over TLS only) when there is at least one.
    public var users: [String: User] = [:]
    /// Authenticated users may send only as their own addresses (`553 5.7.1` otherwise).
    public var restrictSenders = true
    /// Failed AUTH attempts from one client address within the window; then `421 4.7.0` until
    /// the window has passed.
    public var authMaxFailures = 5
    public var authFailureWindow = 900
    /// Seconds a failed AUTH's reply is held back, times the failures in the window.
    public var authFailureDelay = 1.0
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
    /// An authenticated user's `From:` header must name an address the user may send as (the
    /// same rule as MAIL FROM under `auth.senders = "own"`); false: any `From:`.
    public var restrictHeaderFrom = true
    /// Unauthenticated clients outside the trusted networks may not use a sender address in one
    /// of our own domains (refused at RCPT). Off by default: mail forwarded from elsewhere
    /// without SRS keeps such senders, and only SPF/DKIM (later) can tell forwarders from forgers.
    public var refuseStrangersWithLocalSenders = false
    /// MAIL and RCPT need `<address>`; by default a bare address is taken too, as Postfix and
    /// chasquid take it.
    public var strictAddressSyntax = false

    public var domains: [String: LocalDirectory.Domain]
    /// How local mailboxes get their mail (`[delivery] local`), and per domain where it differs
    /// (`[domains."…"] delivery`).
    public var localDelivery = LocalDelivery.maildir
    public var deliveryByDomain: [String: LocalDelivery] = [:]

    public var primaryDomain: String?
    public var recipientDelimiter: String? = "+"

    /// `[relay]`: who may relay, and how mail reaches other machines.
    public var relay = RelaySettings()
    /// `[queue]`: retries, lifetime, notices and reports.
    public var queue = QueueSettings()

    public typealias RelayTLS = Delivery.RelayTLS

    public init(hostname: String, dataDirectory: String, domains: [String: LocalDirectory.Domain]) {
        self.hostname = hostname
        self.dataDirectory = dataDirectory
        self.domains = domains
    }

    public var effectiveMailRoot: String { mailRoot ?? dataDirectory + "/mail" }

    /// The control socket for `postie queue …` and `postie sendmail`.
    public var controlSocket: String { dataDirectory + "/control.sock" }

    /// The embedded defaults.
    public static func defaults() -> PostieConfiguration {
        var users: Set<String> = ["postmaster"]
        if let me = currentUserName(), LocalDirectory.isSafePathComponent(me.lowercased()) { users.insert(me.lowercased()) }
        return PostieConfiguration(
            hostname: systemHostname(), dataDirectory: "./postie-data",
            domains: ["localhost": LocalDirectory.Domain(users: users)])
    }

    public var directory: LocalDirectory {
        LocalDirectory(domains: domains, primaryDomain: primaryDomain, recipientDelimiter: recipientDelimiter)
    }

    /// What the delivery half reads (the queue, the targets, the reports).
    public var delivery: DeliverySettings {
        var d = DeliverySettings(hostname: hostname, directory: directory)
        d.localDelivery = localDelivery
        d.localDeliveryByDomain = deliveryByDomain
        d.queue = queue
        d.relay = relay
        d.ownListeners = listeners.map(\.address)
        return d
    }

    static func systemHostname() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard buffer.withUnsafeMutableBufferPointer({ p in
            p.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) }
        }) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    static func currentUserName() -> String? {
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return nil
    }
}
