import Foundation
import MailAuth
import MailCore
import SMTPCore
import SMTPNIO

/// What the delivery half reads from the configuration, and nothing else: the queue's timing,
/// where local mailboxes get their mail, how to reach other machines, and whom to tell. The wiring
/// derives it once per configuration (at start and at each reload); every attempt reads the
/// current one, so that no attempt runs on a mix of old and new.
public struct DeliverySettings: Sendable {
    /// Our name in EHLO, LHLO, reports and their trace fields.
    public var hostname: String
    /// Local domains, users and aliases: where a report to a local sender goes.
    public var directory: LocalDirectory
    public var queue = QueueSettings()
    public var relay = RelaySettings()
    /// How local mailboxes get their mail, and per domain where it differs.
    public var localDelivery = LocalDelivery.maildir
    public var localDeliveryByDomain: [String: LocalDelivery] = [:]
    /// Where this server itself takes mail: never an exchanger to relay to (a loop).
    public var ownListeners: [HostAndPort] = []
    /// The sender rewriting for forwarded mail; nil: off.
    public var srs: SRS?
    /// The DKIM keys of a `From:` domain, for the reports Postie makes; nil: none are signed.
    public var dkimKeys: MessageSigner.KeyLookup?

    public init(hostname: String, directory: LocalDirectory) {
        self.hostname = hostname
        self.directory = directory
    }

    /// How a local domain's mailboxes get their mail.
    public func delivery(for domain: String) -> LocalDelivery { localDeliveryByDomain[domain] ?? localDelivery }

    /// The sender a message's forwarded copies go with (an alias or catch-all of ours sending a
    /// stranger's mail to another machine): rewritten by SRS, so that SPF passes there; nil when
    /// SRS is off, for `<>`, and for senders in our own domains, which are never rewritten.
    public func forwardingSender(_ envelope: Envelope, now: Int64) -> ReversePath? {
        guard let srs, case .mailbox(let sender) = envelope.sender, !directory.isLocal(domain: sender.normalizedDomain) else { return nil }
        let rewritten = srs.forward(local: sender.localPart, domain: sender.domain, now: now)
        return .mailbox(Mailbox(localPart: rewritten.local, domain: rewritten.domain))
    }

    /// Whether this recipient's copy is a forward (and so goes with `forwardingSender`).
    public func isForwarded(_ recipient: EnvelopeRecipient) -> Bool {
        guard let original = ReversePath.parse(recipient.original)?.mailbox else { return false }
        return directory.forwardingDomain(of: original, to: recipient.target) != nil
    }
}

/// The queue's timing and its reports: the `[queue]` section, with its defaults.
public struct QueueSettings: Hashable, Sendable {
    /// Seconds before the first retry of a deferred delivery; the wait doubles up to the maximum.
    public var retryMinimum = 300
    public var retryMaximum = 4 * 3600
    /// After this long in the queue, what is still deferred fails and the sender is told.
    public var maxLifetime = 5 * 86400
    /// After this long still undelivered, the sender is told once (RFC 3464 "delayed"); 0: never.
    public var delayWarning = 4 * 3600
    /// How much of the original message a report returns.
    public var bounceSizeLimit = 50_000
    /// Failure reports to one sender domain in an hour, for mail from senders Postie cannot vouch
    /// for (against backscatter: `ReportPolicy`).
    public var reportsPerDomainPerHour = 20
    /// Seconds a message's delivery transcripts are kept after its last attempt once it has left
    /// the queue (`postie trace`).
    public var traceRetention = 7 * 86400

    public init() {}

    /// The ledger's timing, in seconds.
    public var policy: DeliveryLedger.Policy {
        get {
            DeliveryLedger.Policy(
                retryMinimum: Int64(retryMinimum), retryMaximum: Int64(retryMaximum), maxLifetime: Int64(maxLifetime),
                delayWarning: Int64(delayWarning))
        }
        set {
            retryMinimum = Int(newValue.retryMinimum)
            retryMaximum = Int(newValue.retryMaximum)
            maxLifetime = Int(newValue.maxLifetime)
            delayWarning = Int(newValue.delayWarning)
        }
    }
}

/// A host (a name or an address) and a port: `host:port`, `[v6]:port`.
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
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

/// STARTTLS when relaying: `may` (when offered, any certificate, RFC 7435), `none`, `encrypt`
/// (required, any certificate) or `verify` (required, certificate verified against the trusted
/// authorities and the exchanger's name).
public enum RelayTLS: String, Hashable, Sendable, CaseIterable {
    case none, may, encrypt, verify
}

/// How mail reaches other machines, and who may send it there: the `[relay]` section, with its
/// defaults.
public struct RelaySettings: Hashable, Sendable {
    /// Clients in these networks may relay (and are vouched for in reports). Empty by default:
    /// no open relay, not even for loopback.
    public var trustedNetworks: [IPNetwork] = []
    /// The port of remote mail exchangers (25; tests use their own).
    public var port = 25
    /// Mail for these domains goes to this host (an address, or a name looked up in DNS), not to
    /// their MX.
    public var routes: [String: HostAndPort] = [:]
    /// Everything else goes here, when set, instead of to the MX.
    public var smarthost: HostAndPort?
    /// AUTH at the smarthost (RFC 4954), only ever over TLS; the password is read from a file so
    /// that the configuration itself holds no secret.
    public var smarthostUser: String?
    public var smarthostPassword: String?
    /// Where the password was read from (printed; the password never is).
    public var smarthostPasswordFile: String?
    /// The DNS server to ask (IPv4 address and port); nil uses the system's resolver settings.
    public var dnsServer: HostAndPort?
    public var dnsTimeout = 5
    public var dnsAttempts = 2
    public var tls = RelayTLS.may
    /// Per destination domain, where it differs from `tls`.
    public var tlsPolicy: [String: RelayTLS] = [:]
    /// PEM file of the certificate authorities `verify` trusts; nil trusts the system's.
    public var tlsCAFile: String?
    /// Outbound connections at once, in total and to one destination domain.
    public var maxConnections = 100
    public var maxConnectionsPerDestination = 10
    /// Messages one outbound connection may carry, one after another.
    public var maxMessagesPerConnection = 20
    /// Addresses (of all exchangers together) one attempt tries, and SMTP sessions it holds
    /// (Postfix's smtp_mx_address_limit and smtp_mx_session_limit).
    public var mxAddressLimit = 5
    public var mxSessionLimit = 2
    /// Seconds to wait for a connection and for each reply.
    public var connectTimeout = 30
    public var commandTimeout = 300

    public init() {}

    /// The TLS policy for one destination domain.
    public func tls(for domain: String) -> RelayTLS { tlsPolicy[domain] ?? tls }

    public var smarthostCredentials: ClientCredentials? {
        smarthostUser.flatMap { user in smarthostPassword.map { ClientCredentials(user: user, password: $0) } }
    }

    /// The client's timeouts, relaying and over LMTP alike: connecting, each reply, and the end of
    /// the data (at least ten minutes, RFC 5321 §4.5.3.2.6).
    var timeouts: ClientTimeouts {
        var t = ClientTimeouts(all: .seconds(Int64(commandTimeout)))
        t.connect = .seconds(Int64(connectTimeout))
        t.dataTermination = .seconds(Int64(max(commandTimeout, 600)))
        return t
    }
}
