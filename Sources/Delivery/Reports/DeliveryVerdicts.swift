import MailCore
import SMTPCore

/// Postie's own verdicts on a recipient, each named once: what the targets and the queue say
/// when no server's reply decides (a server's reply is quoted as it came, `DeliveryStatus(remote:)`).
enum DeliveryVerdicts {
    static let deliveredToMaildir = DeliveryStatus.delivered(.init(2, 0, 0), "delivered to maildir")
    static func localDeliveryFailed(_ error: any Error) -> DeliveryStatus { .deferred(.init(4, 3, 0), "local delivery failed: \(error)") }
    /// Routing errors, never expected: a target given a recipient of another kind.
    static let notLocal = DeliveryStatus.failed(.init(5, 3, 0), "not a local mailbox")
    static let notRemote = DeliveryStatus.failed(.init(5, 3, 0), "not a remote address")
    static let shuttingDown = DeliveryStatus.deferred(.init(4, 3, 2), "the mail system is shutting down")
    static func noOutcome(from relay: String) -> DeliveryStatus { .deferred(.init(4, 3, 0), "no outcome from \(relay)") }

    static func nullMX(_ domain: String) -> DeliveryStatus { .failed(.init(5, 1, 10), "\(domain) does not accept mail (null MX, RFC 7505)") }
    static func domainNotFound(_ domain: String) -> DeliveryStatus { .failed(.init(5, 1, 2), "\(domain): domain not found (NXDOMAIN)") }
    static func dnsProblem(_ name: String, _ why: String) -> DeliveryStatus { .deferred(.init(4, 4, 3), "\(name): \(why)") }
    static func noAddress(_ host: String) -> DeliveryStatus { .deferred(.init(4, 4, 4), "\(host): no address records") }
    static func noExchanger(_ domain: String) -> DeliveryStatus { .deferred(.init(4, 4, 1), "\(domain): no exchanger could be reached") }
    static func unreachable(_ relay: String, _ reason: String) -> DeliveryStatus { .deferred(.init(4, 4, 1), "connect to \(relay): \(reason)") }
    /// Mail whose best exchanger is this server would come back to it (RFC 5321 §5.1).
    static func loopsBack(_ domain: String) -> DeliveryStatus { .failed(.init(5, 4, 6), "mail for \(domain) loops back to myself") }

    static let returnedByAdministrator = DeliveryStatus.failed(.init(5, 0, 0), "message returned to the sender by the mail system administrator")
}
