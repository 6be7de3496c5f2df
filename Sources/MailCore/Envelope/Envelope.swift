import SMTPCore

/// Where one recipient's copy goes.
public enum Destination: Hashable, Sendable, CustomStringConvertible {
    /// A local Maildir: `<mail root>/<domain>/<user>/`.
    case mailbox(domain: String, user: String)
    /// Another machine's recipient, for the relay.
    case remote(Mailbox)

    public var description: String {
        switch self {
        case .mailbox(let domain, let user): return "\(user)@\(domain)"
        case .remote(let m): return m.description
        }
    }

    public var isRemote: Bool {
        if case .remote = self { return true }
        return false
    }
}

/// A recipient's place in its envelope: stable for the message's whole life, since the spool
/// never removes or reorders recipients (their states change; the list does not). Outcomes,
/// notices and log lines name recipients by it, never by a position in some other list.
public struct RecipientID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int

    public init(_ index: Int) { self.index = index }

    public static func < (a: RecipientID, b: RecipientID) -> Bool { a.index < b.index }
    public var description: String { "\(index)" }
}

/// One delivery of a message: a target, the RCPT it came from, and how far it got.
public struct EnvelopeRecipient: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case pending, delivered, deferred, failed
    }

    public var target: Destination
    /// The address the client gave in RCPT TO (an alias or plus address may differ from the target).
    public var original: String
    public var status: Status
    public var attempts: Int
    /// The last reply or error, for the queue listing and bounces.
    public var lastError: String?
    /// RFC 3461 NOTIFY and ORCPT, kept as given.
    public var notify: String?
    public var originalRecipientParameter: String?

    public init(
        target: Destination, original: String, status: Status = .pending, attempts: Int = 0, lastError: String? = nil,
        notify: String? = nil, originalRecipientParameter: String? = nil
    ) {
        self.target = target
        self.original = original
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
        self.notify = notify
        self.originalRecipientParameter = originalRecipientParameter
    }
}

/// The spool's record of a message: who sent it, how it came, and each recipient's state. Kept as
/// a small text file beside the message so a person can read the queue.
public struct Envelope: Hashable, Sendable {
    public var id: String
    /// Unix time of arrival.
    public var arrivalTime: Int64
    /// Octets of the stored message (trace header included), checked when the spool is recovered.
    public var size: Int
    public var sender: ReversePath
    public var clientAddress: String
    public var heloName: String
    public var protocolName: String
    public var body: BodyType?
    public var smtpUTF8: Bool
    public var ret: String?
    public var envelopeID: String?
    public var recipients: [EnvelopeRecipient]
    /// Unix time before which the queue should not try again.
    public var nextAttempt: Int64?
    /// The sender has been told the message is delayed (once is enough).
    public var delayNotified = false
    /// The message failed DMARC and its domain asks for quarantine: local copies go to the
    /// recipients' Junk folders.
    public var quarantined = false
    /// Held by the administrator: never tried until released.
    public var held = false

    public init(
        id: String, arrivalTime: Int64, size: Int, sender: ReversePath, clientAddress: String, heloName: String,
        protocolName: String, body: BodyType? = nil, smtpUTF8: Bool = false, ret: String? = nil, envelopeID: String? = nil,
        recipients: [EnvelopeRecipient], nextAttempt: Int64? = nil, quarantined: Bool = false
    ) {
        self.id = id
        self.arrivalTime = arrivalTime
        self.size = size
        self.sender = sender
        self.clientAddress = clientAddress
        self.heloName = heloName
        self.protocolName = protocolName
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.ret = ret
        self.envelopeID = envelopeID
        self.recipients = recipients
        self.nextAttempt = nextAttempt
        self.quarantined = quarantined
    }

    /// Every recipient's id, in envelope order.
    public var recipientIDs: [RecipientID] { recipients.indices.map(RecipientID.init) }

    /// The recipients still to deliver (pending or deferred).
    public var waitingIDs: [RecipientID] {
        recipients.indices.filter { recipients[$0].status == .pending || recipients[$0].status == .deferred }.map(RecipientID.init)
    }

    public subscript(_ id: RecipientID) -> EnvelopeRecipient {
        get { recipients[id.index] }
        set { recipients[id.index] = newValue }
    }

    /// Whether nothing is left to do for the message.
    public var isFinished: Bool {
        recipients.allSatisfy { $0.status == .delivered || $0.status == .failed }
    }
}
