/// `[tls]`: the server's certificate for STARTTLS and the implicit-TLS listeners.
public struct TLSSettings: Sendable, Equatable {
    /// PEM files of the certificate chain and key; without them Postie makes a self-signed
    /// certificate for its host name on first start.
    public var certificate: String?
    public var key: String?
    /// Seconds between readings of the certificate and key files (a renewed certificate is used
    /// from the next handshake on, without a reload).
    public var reloadInterval = 300
    /// Also offer BoringSSL's older TLS 1.2 suites (CBC with SHA-1), for peers that have nothing
    /// better; off: AEAD suites only.
    public var legacyCiphers = false

    public init() {}
}
