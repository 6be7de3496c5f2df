import SMTPCore

/// The queue's retry, expiry and notice policy (RFC 5321 §4.5.4.1, RFC 3461), as values: what a
/// delivery attempt's outcomes do to a message's envelope, which notices its sender is due, and
/// when to try again. No clock, no randomness, no I/O: the time and the jitter are given.
public enum DeliveryLedger {
    /// The timing the configuration sets, in seconds.
    public struct Policy: Hashable, Sendable {
        public var retryMinimum: Int64
        public var retryMaximum: Int64
        /// After this long in the queue, what is still deferred fails.
        public var maxLifetime: Int64
        /// After this long, a sender is told once that the message is delayed (0: never).
        public var delayWarning: Int64

        public init(retryMinimum: Int64, retryMaximum: Int64, maxLifetime: Int64, delayWarning: Int64) {
            self.retryMinimum = retryMinimum
            self.retryMaximum = retryMaximum
            self.maxLifetime = maxLifetime
            self.delayWarning = delayWarning
        }
    }

    /// What one recipient's attempt came to, and which server answered (`host[address]:port`).
    public struct Outcome: Hashable, Sendable {
        public var recipient: RecipientID
        public var status: DeliveryStatus
        public var relay: String?

        public init(_ recipient: RecipientID, _ status: DeliveryStatus, relay: String? = nil) {
            self.recipient = recipient
            self.status = status
            self.relay = relay
        }

        /// A server's reply, as a client session judged it.
        public init(_ recipient: RecipientID, _ outcome: RecipientOutcome, relay: String? = nil) {
            self.init(recipient, DeliveryStatus(outcome), relay: relay)
        }
    }

    /// A report the sender may be due (if the recipient asked for that kind: `Notice.wanted`).
    public struct Notice: Hashable, Sendable {
        public var recipient: RecipientID
        public var action: DeliveryReport.Action
        public var status: DeliveryStatus
        public var relay: String?

        public init(_ recipient: RecipientID, action: DeliveryReport.Action, status: DeliveryStatus, relay: String?) {
            self.recipient = recipient
            self.action = action
            self.status = status
            self.relay = relay
        }

        /// Whether the recipient asked (RFC 3461 NOTIFY) to hear of this kind of outcome. Without
        /// NOTIFY, failures and delays are reported and successes are not.
        public static func wanted(_ recipient: EnvelopeRecipient, _ action: DeliveryReport.Action) -> Bool {
            let notify = Set((recipient.notify ?? "FAILURE,DELAY").uppercased().split(separator: ",").map(String.init))
            if notify.contains("NEVER") { return false }
            switch action {
            case .failed: return notify.contains("FAILURE")
            case .delayed: return notify.contains("DELAY")
            case .delivered, .relayed, .expanded: return notify.contains("SUCCESS")
            }
        }
    }

    /// Records outcomes: each recipient's attempt count, state and last reply; a delivery or a
    /// failure is a notice; a deferral sets the message's next attempt (the earliest any of its
    /// recipients needs). `jitter(n)` returns a number in `0...n`.
    public static func record(
        _ outcomes: [Outcome], in envelope: inout Envelope, now: Int64, policy: Policy, jitter: (Int64) -> Int64
    ) -> [Notice] {
        var notices: [Notice] = []
        for o in outcomes {
            let i = o.recipient
            envelope[i].attempts += 1
            envelope[i].lastError = o.status.description
            switch o.status.kind {
            case .delivered:
                envelope[i].status = .delivered
                envelope[i].lastError = nil
                notices.append(Notice(i, action: o.relay == nil ? .delivered : .relayed, status: o.status, relay: o.relay))
            case .failed:
                envelope[i].status = .failed
                notices.append(Notice(i, action: .failed, status: o.status, relay: o.relay))
            case .deferred:
                envelope[i].status = .deferred
                let attempts = envelope.recipients.map(\.attempts).max() ?? 1
                let next = now + backoff(attempts: attempts, policy: policy, jitter: jitter)
                envelope.nextAttempt = min(envelope.nextAttempt ?? next, next)
            }
        }
        return notices
    }

    /// The end of an attempt: past its lifetime, what is still waiting fails (`5.4.7`, delivery
    /// time expired); past the warning time, the sender is told once of what still waits (`4.4.7`).
    public static func close(_ envelope: inout Envelope, now: Int64, policy: Policy) -> [Notice] {
        var notices: [Notice] = []
        if now - envelope.arrivalTime >= policy.maxLifetime {
            for i in envelope.waitingIDs {
                let reason = DeliveryStatus.failed(
                    .init(5, 4, 7), "delivery time expired after \(policy.maxLifetime / 3600) hours; last problem: \(envelope[i].lastError ?? "none")")
                envelope[i].status = .failed
                notices.append(Notice(i, action: .failed, status: reason, relay: nil))
            }
        }
        if policy.delayWarning > 0, !envelope.delayNotified, now - envelope.arrivalTime >= policy.delayWarning {
            let waiting = envelope.recipientIDs.filter { envelope[$0].status == .deferred }
            if !waiting.isEmpty {
                envelope.delayNotified = true
                for i in waiting {
                    let status = DeliveryStatus.deferred(.init(4, 4, 7), "still trying: \(envelope[i].lastError ?? "temporary failure")")
                    notices.append(Notice(i, action: .delayed, status: status, relay: nil))
                }
            }
        }
        return notices
    }

    /// Exponential backoff from the minimum to the maximum, with up to 10% jitter so that messages
    /// deferred together do not return together.
    public static func backoff(attempts: Int, policy: Policy, jitter: (Int64) -> Int64) -> Int64 {
        let exponent = min(max(attempts - 1, 0), 20)
        let base = min(policy.retryMaximum, policy.retryMinimum << Int64(exponent))
        return min(policy.retryMaximum, base + jitter(max(1, base / 10)))
    }
}
