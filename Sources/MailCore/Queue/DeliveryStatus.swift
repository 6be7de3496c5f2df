import SMTPCore

/// What became of one recipient, in the terms of delivery reports (RFC 3464, RFC 3463) rather than
/// of an SMTP reply: delivered, deferred or failed; an enhanced status code of the same class; the
/// words that say why; and, when another server decided, the reply it gave. A reply that a
/// session sends and a status that a report carries are different things: `Reply` is the first,
/// this the second.
public struct DeliveryStatus: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case delivered, deferred, failed

        /// The class of status codes for this kind (RFC 3463 §3.1).
        public var statusClass: Int {
            switch self {
            case .delivered: return 2
            case .deferred: return 4
            case .failed: return 5
            }
        }
    }

    public var kind: Kind
    /// Always of the kind's class.
    public private(set) var code: EnhancedStatusCode
    /// Why, in words (a remote server's reply text, or Postie's own reason).
    public var text: String
    /// The reply of the server that decided, when one did (RCPT, after the data); nil when the
    /// verdict is Postie's own (a Maildir written, a domain that does not exist, time expired).
    public var remoteReply: Reply?

    /// Postie's own verdict.
    public init(_ kind: Kind, _ code: EnhancedStatusCode, _ text: String) {
        self.kind = kind
        self.code = EnhancedStatusCode(kind.statusClass, code.subject, code.detail)
        self.text = text
    }

    /// A server's reply, taken as `kind` (by default what the reply's class says).
    public init(remote reply: Reply, as kind: Kind? = nil) {
        let kind = kind ?? (reply.isPositive ? .delivered : reply.isPermanent ? .failed : .deferred)
        self.init(kind, reply.enhancedCode ?? EnhancedStatusCode(kind.statusClass, 0, 0), reply.text)
        remoteReply = reply
    }

    /// A client session's outcome for a recipient: the server's reply, as the session judged it.
    public init(_ outcome: RecipientOutcome) {
        switch outcome {
        case .delivered(let r): self.init(remote: r, as: .delivered)
        case .deferred(let r): self.init(remote: r, as: .deferred)
        case .failed(let r): self.init(remote: r, as: .failed)
        }
    }

    public static func delivered(_ code: EnhancedStatusCode, _ text: String) -> DeliveryStatus { .init(.delivered, code, text) }
    public static func deferred(_ code: EnhancedStatusCode, _ text: String) -> DeliveryStatus { .init(.deferred, code, text) }
    public static func failed(_ code: EnhancedStatusCode, _ text: String) -> DeliveryStatus { .init(.failed, code, text) }

    /// The report's `Diagnostic-Code` (RFC 3464 §2.3.6): the server's reply (`smtp; 550 5.1.1 …`),
    /// or Postie's own words under its own type (`X-Postie; …`, as Postfix writes `X-Postfix`).
    public var diagnosticCode: String {
        if let r = remoteReply { return "smtp; \(r.description)" }
        return "X-Postie; \(text)"
    }

    /// For logs and the queue listing: the server's reply as it said it, or `4.4.1 text`.
    public var description: String { remoteReply?.description ?? "\(code) \(text)" }
}
