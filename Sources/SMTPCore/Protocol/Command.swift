/// A command from the client (RFC 5321 §4.1.1), with its arguments parsed.
public enum Command: Hashable, Sendable {
    case helo(String)
    case ehlo(String)
    case mail(ReversePath, [ESMTPParameter])
    case rcpt(ForwardPath, [ESMTPParameter])
    case data
    /// RFC 3030 CHUNKING: the next `size` octets are message data.
    case bdat(size: Int, last: Bool)
    case rset
    case noop
    case quit
    case vrfy(String)
    case expn(String)
    case help(String?)
    /// RFC 3207; a parameter is a syntax error, kept so the session can say so.
    case starttls(parameter: String?)
    /// RFC 4954.
    case auth(mechanism: String, initialResponse: String?)

    /// The verb, upper case, for logs.
    public var verb: String {
        switch self {
        case .helo: return "HELO"
        case .ehlo: return "EHLO"
        case .mail: return "MAIL"
        case .rcpt: return "RCPT"
        case .data: return "DATA"
        case .bdat: return "BDAT"
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        case .vrfy: return "VRFY"
        case .expn: return "EXPN"
        case .help: return "HELP"
        case .starttls: return "STARTTLS"
        case .auth: return "AUTH"
        }
    }
}

/// `esmtp-param = esmtp-keyword ["=" esmtp-value]` (RFC 5321 §4.1.2). The keyword is kept in
/// upper case; keywords are case-insensitive.
public struct ESMTPParameter: Hashable, Sendable, CustomStringConvertible {
    public var keyword: String
    public var value: String?

    public init(_ keyword: String, _ value: String? = nil) {
        self.keyword = keyword.uppercased()
        self.value = value
    }

    public var description: String { value.map { "\(keyword)=\($0)" } ?? keyword }
}
