import MailCore
import SMTPCore

/// What the delivery half reads from the configuration, and nothing else: the queue's timing,
/// where local mailboxes get their mail, how to reach other machines, and whom to tell. The wiring
/// derives it once per configuration (at start and at each reload); every attempt reads the
/// current one, so that no attempt runs on a mix of old and new.
public struct DeliverySettings: Sendable {
    /// Our name in EHLO, LHLO, reports and their trace fields.
    public var hostname: String
    /// Local domains, users and aliases: where a report to a local sender goes.
    public var directory: LocalDirectory
    /// Clients in these networks are vouched for (success and delay reports go to them).
    public var trustedNetworks: [IPNetwork] = []
    public var queue = QueueSettings()
    public var relay = RelaySettings()
    /// How local mailboxes get their mail, and per domain where it differs.
    public var localDelivery = LocalDelivery.maildir
    public var localDeliveryByDomain: [String: LocalDelivery] = [:]

    public init(hostname: String, directory: LocalDirectory) {
        self.hostname = hostname
        self.directory = directory
    }

    /// How a local domain's mailboxes get their mail.
    public func delivery(for domain: String) -> LocalDelivery { localDeliveryByDomain[domain] ?? localDelivery }
}

/// The queue's timing and its reports (`[queue]`).
public struct QueueSettings: Hashable, Sendable {
    /// Retry, lifetime and delay-notice times, in seconds.
    public var policy = DeliveryLedger.Policy(retryMinimum: 300, retryMaximum: 4 * 3600, maxLifetime: 5 * 86400, delayWarning: 4 * 3600)
    /// How much of the original message a report returns.
    public var bounceSizeLimit = 50_000
    /// Failure reports to one sender domain in an hour, for mail from senders Postie cannot vouch
    /// for (against backscatter: `ReportPolicy`).
    public var reportsPerDomainPerHour = 20

    public init() {}
}

/// A host (a name or an address) and a port.
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// STARTTLS when relaying: `may` (when offered, any certificate, RFC 7435), `none`, `encrypt`
/// (required, any certificate) or `verify` (required, certificate verified against the trusted
/// authorities and the exchanger's name).
public enum RelayTLS: String, Hashable, Sendable, CaseIterable {
    case none, may, encrypt, verify
}

/// How mail reaches other machines (`[relay]`).
public struct RelaySettings: Hashable, Sendable {
    /// The port of remote mail exchangers (25; tests use their own).
    public var port = 25
    /// Mail for these domains goes to this host, not to their MX.
    public var routes: [String: HostAndPort] = [:]
    /// Everything else goes here, when set, instead of to the MX.
    public var smarthost: HostAndPort?
    /// AUTH at the smarthost (RFC 4954), only ever over TLS.
    public var smarthostCredentials: ClientCredentials?
    public var tls = RelayTLS.may
    public var tlsByDomain: [String: RelayTLS] = [:]
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
    /// Where this server itself takes mail: never an exchanger to relay to (a loop).
    public var ownListeners: [HostAndPort] = []

    public init() {}

    /// The TLS policy for one destination domain.
    public func tls(for domain: String) -> RelayTLS { tlsByDomain[domain] ?? tls }
}
