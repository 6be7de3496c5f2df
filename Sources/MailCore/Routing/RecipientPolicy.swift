import SMTPCore

/// Where mail for an address goes, whoever hands it to Postie (an SMTP client at RCPT, a local
/// user through `postie sendmail`, the queue sending a report): through the local directory
/// (users, aliases, catch-alls), to another machine when the sender may relay, or refused with
/// the reason. One policy, so the three cannot drift apart; each says the refusal in its own
/// words (an SMTP reply, a control error, a log line).
public enum RecipientPolicy {
    public enum Refusal: Hashable, Sendable {
        /// Not a local domain, and the sender may not relay.
        case relayDenied
        case unknownUser
        /// A local part that cannot be a mailbox name.
        case unsafe
        case aliasLoop
    }

    public enum Decision: Hashable, Sendable {
        case accept([Destination])
        case refuse(Refusal)
    }

    public static func decide(_ path: ForwardPath, directory: LocalDirectory, mayRelay: Bool) -> Decision {
        switch directory.resolve(path) {
        case .deliver(let destinations): return .accept(destinations)
        case .notLocal:
            guard case .mailbox(let m) = path, mayRelay else { return .refuse(.relayDenied) }
            return .accept([.remote(m)])
        case .unknownUser: return .refuse(.unknownUser)
        case .unsafe: return .refuse(.unsafe)
        case .aliasLoop: return .refuse(.aliasLoop)
        }
    }

    /// Adds a recipient's destinations to an envelope's list, each destination once (two
    /// addresses that lead to one mailbox deliver one copy).
    public static func add(
        _ destinations: [Destination], original: String, notify: String? = nil, originalRecipient: String? = nil,
        to recipients: inout [EnvelopeRecipient]
    ) {
        for d in destinations where !recipients.contains(where: { $0.target == d }) {
            recipients.append(EnvelopeRecipient(target: d, original: original, notify: notify, originalRecipientParameter: originalRecipient))
        }
    }
}
