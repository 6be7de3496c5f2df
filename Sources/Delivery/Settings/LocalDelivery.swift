import SMTPNIO

/// Where mail for a local mailbox goes: into its Maildir (Postie writes it), or to an LMTP server
/// (RFC 2033) such as Dovecot's, which then owns the mailbox (IMAP, quotas, Sieve).
/// Written `maildir`, `lmtp:unix:/run/dovecot/lmtp` or `lmtp:127.0.0.1:24` (`lmtp:[::1]:24`).
public enum LocalDelivery: Hashable, Sendable, CustomStringConvertible {
    case maildir
    case lmtp(ClientEndpoint)

    public var description: String {
        switch self {
        case .maildir: return "maildir"
        case .lmtp(let endpoint): return "lmtp:\(endpoint)"
        }
    }
}
