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
/// - A stranger's mail forwarded by one of our aliases that fails at the far end is reported to
///   the forwarding domain's postmaster instead: the alias is what needs mending, and the sender
///   the stranger wrote may be anyone.
enum ReportPolicy {
    /// The message came from someone Postie knows: an authenticated session (the protocol name
    /// ends in `A`, RFC 3848), a trusted network, or `postie sendmail` (`local`).
    static func vouchesFor(_ envelope: Envelope, trustedNetworks: [IPNetwork]) -> Bool {
        envelope.protocolName == "local" || envelope.protocolName.hasSuffix("A")
            || trustedNetworks.contains { $0.contains(envelope.clientAddress) }
    }

    /// The local domain whose alias forwarded these recipients elsewhere, when every one of them
    /// is such a forward (a remote target reached through an address in one of our domains).
    static func forwardingDomain(_ recipients: [EnvelopeRecipient], _ directory: LocalDirectory) -> String? {
        var domain: String?
        for r in recipients {
            guard let through = ReversePath.parse(r.original)?.mailbox, let d = directory.forwardingDomain(of: through, to: r.target) else {
                return nil
            }
            domain = domain ?? d
        }
        return domain
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
