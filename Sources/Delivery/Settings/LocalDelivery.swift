import SMTPNIO

/// Where mail for a local mailbox goes: into its Maildir (Postie writes it), or to an LMTP server
/// (RFC 2033) such as Dovecot's, which then owns the mailbox (IMAP, quotas, Sieve).
/// Written `maildir`, `lmtp:unix:/run/dovecot/lmtp` or `lmtp:127.0.0.1:24` (`lmtp:[::1]:24`).
public enum LocalDelivery: Hashable, Sendable, CustomStringConvertible {
    case maildir
    case lmtp(ClientEndpoint)

    /// `maildir`, `lmtp:unix:/run/dovecot/lmtp`, `lmtp:127.0.0.1:24` or `lmtp:[::1]:24`.
    public init?(_ text: String) {
        if text == "maildir" {
            self = .maildir
            return
        }
        guard text.hasPrefix("lmtp:") else { return nil }
        let target = text.dropFirst(5)
        if target.hasPrefix("unix:") {
            let path = String(target.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108 else { return nil }  // sun_path holds 108 octets
            self = .lmtp(.unix(path: path))
            return
        }
        guard let address = HostAndPort(String(target)), address.port > 0 else { return nil }
        self = .lmtp(.tcp(host: address.host, port: address.port))
    }

    public var description: String {
        switch self {
        case .maildir: return "maildir"
        case .lmtp(let endpoint): return "lmtp:\(endpoint)"
        }
    }
}
