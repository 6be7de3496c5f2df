/// `BODY=` of RFC 6152 (8BITMIME).
public enum BodyType: String, Hashable, Sendable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
}

/// The parameters of MAIL FROM that the server understands, checked against what it advertised.
public struct MailParameters: Hashable, Sendable {
    /// RFC 1870 `SIZE=`.
    public var size: Int?
    /// RFC 6152 `BODY=`.
    public var body: BodyType?
    /// RFC 6531 `SMTPUTF8`.
    public var smtpUTF8 = false
    /// RFC 3461 `RET=` and `ENVID=`, kept as given (only with DSN advertised).
    public var ret: String?
    public var envelopeID: String?
    /// RFC 4954 `AUTH=`, kept as given (only with AUTH advertised).
    public var auth: String?

    public init() {}

    /// Validates raw parameters. Unknown or unadvertised ones get `555 5.5.4` (RFC 5321 §4.1.1.11).
    public init(_ parameters: [ESMTPParameter], extensions: AdvertisedExtensions, limits: SMTPLimits) throws(CommandParseError) {
        var seen = Set<String>()
        for p in parameters {
            guard seen.insert(p.keyword).inserted else {
                throw CommandParseError(.Syntax.duplicateParameter(p.keyword))
            }
            switch p.keyword {
            case "SIZE":
                guard let v = p.value, v.count <= 18, v.utf8.allSatisfy({ (48...57).contains($0) }), let n = Int(v) else {
                    throw CommandParseError(.Syntax.badParameter("bad SIZE parameter"))
                }
                guard n <= limits.maxMessageSize else {
                    throw CommandParseError(.messageTooBig)
                }
                size = n
            case "BODY":
                guard let v = p.value, let b = BodyType(rawValue: v.uppercased()) else {
                    throw CommandParseError(.Syntax.badParameter("BODY must be 7BIT or 8BITMIME"))
                }
                body = b
            case "SMTPUTF8":
                guard p.value == nil else {
                    throw CommandParseError(.Syntax.badParameter("SMTPUTF8 takes no value"))
                }
                smtpUTF8 = true
            case "RET" where extensions.dsn:
                guard let v = p.value?.uppercased(), v == "FULL" || v == "HDRS" else {
                    throw CommandParseError(.Syntax.badParameter("RET must be FULL or HDRS"))
                }
                ret = v
            case "ENVID" where extensions.dsn:
                guard let v = p.value else { throw CommandParseError(.Syntax.badParameter("ENVID needs a value")) }
                envelopeID = v
            case "AUTH" where !extensions.auth.isEmpty:
                guard let v = p.value else { throw CommandParseError(.Syntax.badParameter("AUTH needs a value")) }
                auth = v
            default:
                throw CommandParseError(.Syntax.unsupportedParameter(p.keyword))
            }
        }
    }
}

/// The parameters of RCPT TO that the server understands.
public struct RecipientParameters: Hashable, Sendable {
    /// RFC 3461 `NOTIFY=` and `ORCPT=`, kept as given (only with DSN advertised).
    public var notify: String?
    public var originalRecipient: String?

    public init() {}

    public init(_ parameters: [ESMTPParameter], extensions: AdvertisedExtensions) throws(CommandParseError) {
        var seen = Set<String>()
        for p in parameters {
            guard seen.insert(p.keyword).inserted else {
                throw CommandParseError(.Syntax.duplicateParameter(p.keyword))
            }
            switch p.keyword {
            case "NOTIFY" where extensions.dsn:
                // RFC 3461 §4.1: NEVER alone, or any of SUCCESS, FAILURE, DELAY.
                let values = (p.value ?? "").uppercased().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                let valid =
                    values == ["NEVER"]
                    || (!values.isEmpty && Set(values).count == values.count && values.allSatisfy { ["SUCCESS", "FAILURE", "DELAY"].contains($0) })
                guard valid else {
                    throw CommandParseError(.Syntax.badParameter("NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"))
                }
                notify = values.joined(separator: ",")
            case "ORCPT" where extensions.dsn:
                // RFC 3461 §4.2: addr-type ";" xtext.
                guard let v = p.value, let semi = v.firstIndex(of: ";"), v[..<semi].count > 0, v[v.index(after: semi)...].count > 0 else {
                    throw CommandParseError(.Syntax.badParameter("ORCPT must be addr-type;address"))
                }
                originalRecipient = v
            default:
                throw CommandParseError(.Syntax.unsupportedParameter(p.keyword))
            }
        }
    }
}
