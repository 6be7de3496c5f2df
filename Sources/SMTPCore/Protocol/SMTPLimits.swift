/// Every protocol limit in one place, with the defaults of RFC 5321 §4.5.3.1 where it names one.
public struct SMTPLimits: Hashable, Sendable {
    /// Octets of a command line including CRLF before extensions add to it (RFC 5321 §4.5.3.1.4).
    public var commandLineLength = 512
    /// RFC 5321 §4.5.3.1.1.
    public var maxLocalPartLength = 64
    /// RFC 5321 §4.5.3.1.2.
    public var maxDomainLength = 255
    /// Octets of a text line in DATA, including CRLF (RFC 5321 §4.5.3.1.6).
    public var textLineLength = 1000
    /// Largest message accepted, advertised with SIZE (RFC 1870).
    public var maxMessageSize = 50 * 1024 * 1024
    /// Recipients per transaction; more get `452 4.5.3` (RFC 5321 §4.5.3.1.8 asks for at least 100).
    public var maxRecipients = 100
    /// Error replies before the session is closed with `421`.
    public var maxErrors = 10
    /// Messages one connection may deliver; then `421` and the close (the client reconnects).
    public var maxMessagesPerConnection = 1000
    /// Commands one connection may send; then `421` and the close.
    public var maxCommandsPerConnection = 100_000
    /// AUTH command lines may be longer (RFC 4954 §4: 12288 octets).
    public var authLineLength = 12288

    public init() {}

    /// The extra octets that SIZE (RFC 1870 §3: 26) and DSN (RFC 3461 §4: 100 on MAIL, 500 on
    /// RCPT) and AUTH (RFC 4954 §3: 500 on MAIL) grant.
    public func lineLength(for verb: String, extensions: AdvertisedExtensions) -> Int {
        switch verb {
        case "MAIL":
            return commandLineLength + 26 + (extensions.dsn ? 100 : 0) + (extensions.auth.isEmpty ? 0 : 500)
        case "RCPT":
            return commandLineLength + (extensions.dsn ? 500 : 0)
        case "AUTH":
            return authLineLength
        default:
            return commandLineLength
        }
    }

    /// The longest line the framer keeps before it gives up on it.
    public func longestLine(extensions: AdvertisedExtensions) -> Int {
        ["MAIL", "RCPT", extensions.auth.isEmpty ? "NOOP" : "AUTH"].map { lineLength(for: $0, extensions: extensions) }.max()!
    }
}

/// The ESMTP extensions the server offers beyond the ones it always has (PIPELINING, SIZE,
/// 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING).
public struct AdvertisedExtensions: Hashable, Sendable {
    /// STARTTLS (RFC 3207), offered while the connection is not yet encrypted.
    public var startTLS = false
    /// AUTH mechanisms (RFC 4954), offered when not empty.
    public var auth: [String] = []
    /// DSN (RFC 3461).
    public var dsn = false

    public init(startTLS: Bool = false, auth: [String] = [], dsn: Bool = false) {
        self.startTLS = startTLS
        self.auth = auth
        self.dsn = dsn
    }
}
