import MailCore
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore

/// One message as the queue hands it to a target: its envelope, and its octets while the spool
/// writer still holds them in memory (a message just committed), so that a target which can
/// use them need not read the spool file.
public struct QueuedMessage: Sendable {
    public var envelope: Envelope
    public var octets: [ByteBuffer]?

    public init(_ envelope: Envelope, octets: [ByteBuffer]? = nil) {
        self.envelope = envelope
        self.octets = octets
    }
}

/// What became of one recipient at a target: its status, and the server that gave it
/// (`host[address]:port`, `lmtp:unix:/path`; nil for Postie's own Maildirs).
public struct TargetOutcome: Hashable, Sendable {
    public var status: DeliveryStatus
    public var relay: String?

    public init(_ status: DeliveryStatus, relay: String? = nil) {
        self.status = status
        self.relay = relay
    }

    /// A server's reply, as a client session judged it.
    public init(_ outcome: RecipientOutcome, relay: String? = nil) {
        self.init(DeliveryStatus(outcome), relay: relay)
    }
}

/// Outcomes by recipient id.
public typealias TargetOutcomes = [RecipientID: TargetOutcome]

/// Somewhere a message can be delivered: Postie's Maildirs, an LMTP server, other machines by
/// SMTP. The queue gives a target one message and those of its recipients routed there; the
/// target answers once, with an outcome for every one of them (delivered, deferred with the
/// reason, failed with the reply that says why). A target never throws: a problem is an
/// outcome. It may answer on any thread, so `completion` must be short.
///
/// The interface is a completion rather than `async`: the common local delivery then runs from
/// the Maildir thread's batch to the spool's without a task in between (`AsyncDeliveryTarget`
/// is the form for targets written with `async`).
public protocol DeliveryTarget: Sendable {
    func deliver(_ message: QueuedMessage, to recipients: [RecipientID], completion: @escaping @Sendable (TargetOutcomes) -> Void)
}

/// A target written with `async`: the completion form runs it in a task.
public protocol AsyncDeliveryTarget: DeliveryTarget {
    func deliverAsync(_ message: QueuedMessage, to recipients: [RecipientID]) async -> TargetOutcomes
}

extension AsyncDeliveryTarget {
    public func deliver(_ message: QueuedMessage, to recipients: [RecipientID], completion: @escaping @Sendable (TargetOutcomes) -> Void) {
        Task { completion(await deliverAsync(message, to: recipients)) }
    }
}

extension TargetOutcomes {
    /// The same status for every one of these recipients.
    public init(_ recipients: [RecipientID], _ status: DeliveryStatus, relay: String? = nil) {
        self.init(uniqueKeysWithValues: recipients.map { ($0, TargetOutcome(status, relay: relay)) })
    }

    /// A client session's outcomes for these recipients, in the order they were sent; one the
    /// session did not settle (too few outcomes) waits for another attempt.
    init(_ recipients: [RecipientID], _ outcomes: [RecipientOutcome], relay: String) {
        self.init(
            uniqueKeysWithValues: recipients.enumerated().map { n, id in
                (id, n < outcomes.count ? TargetOutcome(outcomes[n], relay: relay) : TargetOutcome(DeliveryVerdicts.noOutcome(from: relay), relay: relay))
            })
    }
}

extension OutgoingMessage {
    /// The message of a queued envelope, for these recipients: its size and body type, and
    /// whether it needs SMTPUTF8 (asked for, or an address that is not ASCII).
    init(_ envelope: Envelope, to recipients: [OutgoingRecipient]) {
        self.init(
            reversePath: envelope.sender, recipients: recipients, size: envelope.size, eightBit: envelope.body == .eightBitMIME,
            needsSMTPUTF8: envelope.smtpUTF8 || !(envelope.sender.mailbox?.isASCII ?? true) || recipients.contains { !$0.mailbox.isASCII },
            ret: envelope.ret, envelopeID: envelope.envelopeID)
    }
}

/// Gathers the outcomes of several parts of one delivery (targets, destination domains) and
/// answers once, when the last part has.
final class OutcomeJoin: Sendable {
    private struct State {
        var left: Int
        var outcomes: TargetOutcomes
    }
    private let state: NIOLockedValueBox<State>
    private let completion: @Sendable (TargetOutcomes) -> Void

    init(parts: Int, initial: TargetOutcomes = [:], completion: @escaping @Sendable (TargetOutcomes) -> Void) {
        state = NIOLockedValueBox(State(left: parts, outcomes: initial))
        self.completion = completion
        if parts == 0 { completion(initial) }
    }

    /// One part's outcomes.
    @Sendable func add(_ outcomes: TargetOutcomes) {
        let all = state.withLockedValue { s -> TargetOutcomes? in
            s.outcomes.merge(outcomes) { a, _ in a }
            s.left -= 1
            return s.left == 0 ? s.outcomes : nil
        }
        if let all { completion(all) }
    }
}
