import MailCore
import NIOConcurrencyHelpers
import SMTPCore

/// Which delivery reports Postie sends, so that it never mails a forged sender on a stranger's
/// behalf (backscatter). Anyone can write someone else's address in MAIL FROM; a report goes to
/// that address, with the stranger's text in it.
///
/// - Success and delay reports (RFC 3461 NOTIFY=SUCCESS, DELAY) go only to senders Postie can
///   vouch for: a user who authenticated, a trusted network, or a local submission.
/// - Failure reports, which RFC 5321 §6.1 requires for mail Postie accepted, go to strangers too,
///   but at most `queue.reports_per_domain_per_hour` to one sender domain in an hour.
enum ReportPolicy {
    /// The message came from someone Postie knows: an authenticated session (the protocol name
    /// ends in `A`, RFC 3848), a trusted network, or `postie sendmail` (`local`).
    static func vouchesFor(_ envelope: Envelope, trustedNetworks: [IPNetwork]) -> Bool {
        envelope.protocolName == "local" || envelope.protocolName.hasSuffix("A")
            || trustedNetworks.contains { $0.contains(envelope.clientAddress) }
    }

    /// Whether a report of this kind may go to the sender at all.
    static func mayReport(_ action: DeliveryReport.Action, vouched: Bool) -> Bool {
        vouched || action == .failed
    }
}

/// Counts reports to strangers per sender domain in a sliding hour, on the time it is given.
final class ReportLimiter: Sendable {
    private let sent = NIOLockedValueBox<[String: [Int64]]>([:])

    /// Takes a place for one report to `domain` at `now` (seconds), or says no.
    func admit(domain: String, now: Int64, perHour: Int) -> Bool {
        sent.withLockedValue { table in
            if table.count > 10_000 { table = table.filter { $0.value.contains { now - $0 < 3600 } } }
            var times = table[domain, default: []].filter { now - $0 < 3600 }
            guard times.count < perHour else {
                table[domain] = times
                return false
            }
            times.append(now)
            table[domain] = times
            return true
        }
    }
}
