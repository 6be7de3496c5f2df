/// What a listening socket serves: its names are those systemd's socket units give them
/// (`FileDescriptorName=`) and the ports they usually have.
public enum ListenerKind: String, Sendable, CaseIterable {
    /// Plain SMTP with STARTTLS (port 25): `smtp.listen`.
    case smtp
    /// Implicit TLS without AUTH required: `smtp.tls_listen`.
    case smtps
    /// Submission with STARTTLS and AUTH required (port 587): `submission.listen`.
    case submission
    /// Submission over implicit TLS (port 465): `submission.tls_listen`.
    case submissions

    /// TLS from the connection's first octet (RFC 8314).
    public var implicitTLS: Bool { self == .smtps || self == .submissions }
    /// AUTH before MAIL (RFC 6409).
    public var requiresAuthentication: Bool { self == .submission || self == .submissions }
}
