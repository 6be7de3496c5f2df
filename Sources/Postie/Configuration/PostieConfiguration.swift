#if canImport(Glibc)
import Glibc
#endif
import Delivery
import Logging
import MailCore
import SMTPCore
import SMTPNIO

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

    /// `[smtp]`: listeners for mail from other machines, and every session's limits.
    public var smtp = SMTPSettings()
    /// `[submission]`: listeners for our own users' mail.
    public var submission = SubmissionSettings()
    /// `[tls]`: the server's certificate.
    public var tls = TLSSettings()
    /// `[auth]`: users and what they may send as.
    public var auth = AuthSettings()
    /// `[recipients]`: tags and the postmaster's domain.
    public var recipients = RecipientSettings()
    /// `[dkim]`: signing keys by domain.
    public var dkim = DKIMSettings()
    /// `[srs]`: how forwarded mail's sender is rewritten.
    public var srs = SRSSettings()
    /// `[verify]`: SPF, DKIM, DMARC and ARC checks of strangers' mail.
    public var verify = VerifySettings()
    /// `[admin]`: metrics, health probes, the admin API.
    public var admin = AdminSettings()

    /// Every listener with what it serves, in the order of the keys in the file.
    public var listeners: [(address: ListenAddress, kind: ListenerKind)] {
        smtp.listen.map { ($0, .smtp) } + smtp.tlsListen.map { ($0, .smtps) } + submission.listen.map { ($0, .submission) }
            + submission.tlsListen.map { ($0, .submissions) }
    }
    public typealias User = AuthSettings.User

    public var domains: [String: LocalDirectory.Domain]
    /// How local mailboxes get their mail (`[delivery] local`), and per domain where it differs
    /// (`[domains."…"] delivery`).
    public var localDelivery = LocalDelivery.maildir
    public var deliveryByDomain: [String: LocalDelivery] = [:]

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

    /// How DNS is asked (`relay.dns_server`, `dns_timeout`, `dns_attempts`).
    public var dnsConfiguration: SystemDNSResolver.Configuration {
        var dns = SystemDNSResolver.Configuration(timeout: relay.dnsTimeout, attempts: relay.dnsAttempts)
        if let d = relay.dnsServer {
            dns.server = d.host
            dns.port = d.port
        }
        return dns
    }

    /// The embedded defaults.
    public static func defaults() -> PostieConfiguration {
        var users: Set<String> = ["postmaster"]
        if let me = currentUserName(), LocalDirectory.isSafePathComponent(me.lowercased()) { users.insert(me.lowercased()) }
        return PostieConfiguration(
            hostname: systemHostname(), dataDirectory: "./postie-data",
            domains: ["localhost": LocalDirectory.Domain(users: users)])
    }

    public var directory: LocalDirectory {
        LocalDirectory(domains: domains, primaryDomain: recipients.postmasterDomain, recipientDelimiter: recipients.delimiter)
    }

    /// What the delivery half reads (the queue, the targets, the reports).
    public var delivery: DeliverySettings {
        var d = DeliverySettings(hostname: hostname, directory: directory)
        d.localDelivery = localDelivery
        d.localDeliveryByDomain = deliveryByDomain
        d.queue = queue
        d.relay = relay
        d.ownListeners = listeners.map(\.address)
        d.srs = srsScheme
        if !dkim.domains.isEmpty { d.dkimKeys = { [dkim] in dkim.signers(for: $0) } }
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
