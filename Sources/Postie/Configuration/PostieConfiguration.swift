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
    public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port` or `[v6]:port`.
        public init?(_ text: String) {
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                let host = String(text[text.index(after: text.startIndex)..<close])
                let rest = text[text.index(after: close)...]
                guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (0...65535).contains(port) else { return nil }
                self.init(host: host, port: port)
            } else {
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                    (0...65535).contains(port), colon != text.startIndex
                else { return nil }
                self.init(host: String(text[..<colon]), port: port)
            }
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

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

    /// How a local domain's mailboxes get their mail.
    public func delivery(for domain: String) -> LocalDelivery { deliveryByDomain[domain] ?? localDelivery }
    public var primaryDomain: String?
    public var recipientDelimiter: String? = "+"
    /// Clients in these networks may relay. Empty by default: no open relay, not even for loopback.
    public var trustedNetworks: [IPNetwork] = []

    /// The port of remote mail exchangers (25; tests use their own).
    public var relayPort = 25
    /// Mail for these domains goes to this host (an address, or a name looked up in DNS), not to
    /// their MX.
    public var routes: [String: ListenAddress] = [:]
    /// Everything else goes here, when set, instead of to the MX.
    public var smarthost: ListenAddress?
    /// AUTH at the smarthost (RFC 4954), only ever over TLS; the password is read from a file so
    /// that the configuration itself holds no secret.
    public var smarthostUser: String?
    public var smarthostPassword: String?
    /// The DNS server to ask (IPv4 address and port); nil uses the system's resolver settings.
    public var dnsServer: ListenAddress?
    public var dnsTimeout = 5
    public var dnsAttempts = 2
    /// STARTTLS when relaying: `may` (when offered, any certificate, RFC 7435), `none`,
    /// `encrypt` (required, any certificate) or `verify` (required, certificate verified against
    /// the system's trust store and the exchanger's name); per domain in `tlsPolicy`.
    public typealias RelayTLS = Delivery.RelayTLS
    public var relayTLS = RelayTLS.may
    public var tlsPolicy: [String: RelayTLS] = [:]
    /// PEM file of the certificate authorities `verify` trusts; nil trusts the system's.
    public var tlsCAFile: String?

    /// Outbound connections at once, in total and to one destination domain.
    public var relayMaxConnections = 100
    public var relayMaxConnectionsPerDestination = 10
    /// Messages one outbound connection may carry, one after another.
    public var relayMaxMessagesPerConnection = 20
    /// Addresses (of all exchangers together) one delivery attempt tries, and SMTP sessions it
    /// holds, at most (Postfix's smtp_mx_address_limit and smtp_mx_session_limit).
    public var relayMXAddressLimit = 5
    public var relayMXSessionLimit = 2
    /// Seconds to wait for a remote server's connection and for each reply.
    public var relayConnectTimeout = 30
    public var relayCommandTimeout = 300

    /// Seconds before the first retry of a deferred delivery; the wait doubles up to the maximum.
    public var retryMinimum = 300
    public var retryMaximum = 4 * 3600
    /// After this long in the queue, what is still deferred fails and the sender is told.
    public var maxLifetime = 5 * 86400
    /// After this long (seconds) still undelivered, the sender is told once that the message is
    /// delayed (RFC 3464 "delayed"); 0 turns the notice off.
    public var delayWarning = 4 * 3600
    /// How much of the original message a bounce returns.
    public var bounceSizeLimit = 50_000
    /// Failure reports to one sender domain in an hour, for mail from senders Postie cannot vouch
    /// for (against backscatter: `ReportPolicy`).
    public var reportsPerDomainPerHour = 20

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
        d.trustedNetworks = trustedNetworks
        d.localDelivery = localDelivery
        d.localDeliveryByDomain = deliveryByDomain
        d.queue.policy = DeliveryLedger.Policy(
            retryMinimum: Int64(retryMinimum), retryMaximum: Int64(retryMaximum), maxLifetime: Int64(maxLifetime),
            delayWarning: Int64(delayWarning))
        d.queue.bounceSizeLimit = bounceSizeLimit
        d.queue.reportsPerDomainPerHour = reportsPerDomainPerHour
        var r = RelaySettings()
        r.port = relayPort
        r.routes = routes.mapValues { HostAndPort(host: $0.host, port: $0.port) }
        r.smarthost = smarthost.map { HostAndPort(host: $0.host, port: $0.port) }
        r.smarthostCredentials = smarthostUser.flatMap { user in smarthostPassword.map { ClientCredentials(user: user, password: $0) } }
        r.tls = relayTLS
        r.tlsByDomain = tlsPolicy
        r.tlsCAFile = tlsCAFile
        r.maxConnections = relayMaxConnections
        r.maxConnectionsPerDestination = relayMaxConnectionsPerDestination
        r.maxMessagesPerConnection = relayMaxMessagesPerConnection
        r.mxAddressLimit = relayMXAddressLimit
        r.mxSessionLimit = relayMXSessionLimit
        r.connectTimeout = relayConnectTimeout
        r.commandTimeout = relayCommandTimeout
        r.ownListeners = listeners.map { HostAndPort(host: $0.address.host, port: $0.address.port) }
        d.relay = r
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
