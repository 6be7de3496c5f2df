import MailAuth

/// `[srs]`: the Sender Rewriting Scheme for mail an alias or catch-all forwards to another
/// machine (docs/authentication.md).
public struct SRSSettings: Sendable {
    /// Rewrite the sender of forwarded mail (and take bounces to rewritten senders back).
    public var enabled = true
    /// The domain of rewritten senders; nil: the postmaster domain (`[recipients]`).
    public var domain: String?
    /// Days a rewritten sender is accepted back.
    public var maxAge = 21
    /// The secrets, one a line, the first signing (postsrsd's format); nil: `<data_dir>/srs.secret`,
    /// made with a random secret on first start.
    public var secretFile: String?
    /// The secrets read from the file (empty until the file exists).
    public var secrets: [[UInt8]] = []

    public init() {}

    /// The file the secrets are in.
    public func secretPath(dataDirectory: String) -> String { secretFile ?? dataDirectory + "/srs.secret" }
}

extension PostieConfiguration {
    /// The rewriting in force: nil when it is off or no secret has been read yet.
    public var srsScheme: SRS? {
        guard srs.enabled, !srs.secrets.isEmpty else { return nil }
        return SRS(secrets: srs.secrets, domain: (srs.domain ?? directory.primaryDomain).lowercased(), maxAge: srs.maxAge)
    }
}
