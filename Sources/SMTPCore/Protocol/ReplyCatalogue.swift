/// The replies a server session gives, named by concern, each written once (the flat names on
/// `Reply` — `.ok`, `.syntaxError`, … — are the protocol's general ones). Texts follow Postfix's
/// where clients and people know them.
extension Reply {
    /// The connection as a whole: greeting, closing, limits (RFC 5321 §3.1, §3.8, §4.2).
    public enum Session {
        public static func greeting(_ hostname: String) -> Reply { Reply(220, nil, "\(hostname) ESMTP Postie") }
        public static let bye = Reply(221, .init(2, 0, 0), "Bye")
        public static func helo(_ hostname: String) -> Reply { Reply(250, nil, hostname) }
        /// The EHLO reply: our name first, then one extension a line.
        public static func ehlo(_ lines: [String]) -> Reply { Reply(250, nil, lines: lines) }
        public static func shuttingDown(_ hostname: String) -> Reply {
            Reply(421, .init(4, 3, 2), "\(hostname) Service shutting down, try again later")
        }
        public static func tooManyCommands(_ hostname: String) -> Reply {
            Reply(421, .init(4, 7, 0), "\(hostname) Error: too many commands on one connection")
        }
        public static func tooManyMessages(_ hostname: String) -> Reply {
            Reply(421, .init(4, 7, 0), "\(hostname) Error: too many messages on one connection, reconnect")
        }
        public static func tooManyConnections(_ hostname: String) -> Reply {
            Reply(421, .init(4, 3, 2), "\(hostname) Too many connections, not accepting mail, try again later")
        }
        /// The mail side failed in a way it did not name: temporary, so that the client tries again.
        public static func localError(_ what: String) -> Reply { Reply(451, .init(4, 3, 0), what) }
        public static let help = Reply(
            214, .init(2, 0, 0), lines: ["Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP", "See RFC 5321; Postie"])
    }

    /// AUTH (RFC 4954).
    public enum Auth {
        public static let succeeded = Reply(235, .init(2, 7, 0), "Authentication successful")
        /// A SASL challenge (base64, or empty).
        public static func challenge(_ text: String) -> Reply { Reply(334, nil, text) }
        public static let lineTooLong = Reply(500, .init(5, 5, 6), "Authentication Exchange line is too long")
        public static let notEnabled = Reply(502, .init(5, 5, 1), "Error: authentication not enabled")
        public static let encryptionRequired = Reply(538, .init(5, 7, 11), "Encryption required for requested authentication mechanism")
        public static let needEHLO = Reply(503, .init(5, 5, 1), "Error: send EHLO first")
        public static let alreadyAuthenticated = Reply(503, .init(5, 5, 1), "Error: already authenticated")
        public static let duringTransaction = Reply(503, .init(5, 5, 1), "Error: AUTH not permitted during a mail transaction")
        public static let mechanismNotSupported = Reply(504, .init(5, 5, 4), "Error: authentication mechanism not supported")
        public static let required = Reply(530, .init(5, 7, 0), "Error: authentication required")
        public static let badCredentials = Reply(535, .init(5, 7, 8), "Error: authentication failed")
        public static let tooManyFailures = Reply(421, .init(4, 7, 0), "Error: too many failed authentication attempts, try again later")
        public static let temporaryFailure = Reply(454, .init(4, 7, 0), "Temporary authentication failure")
        public static func senderNotOwned(_ path: String, user: String) -> Reply {
            Reply(553, .init(5, 7, 1), "\(path): Sender address rejected: not owned by user \(user)")
        }
    }

    /// STARTTLS (RFC 3207).
    public enum StartTLS {
        public static let ready = Reply(220, .init(2, 0, 0), "Ready to start TLS")
        public static let alreadyActive = Reply(503, .init(5, 5, 1), "Error: TLS already active")
        public static let notAvailable = Reply(502, .init(5, 5, 1), "Error: STARTTLS not available")
        public static let takesNoParameters = Reply(501, .init(5, 5, 4), "Syntax: STARTTLS takes no parameters")
        public static let duringTransaction = Reply(503, .init(5, 5, 1), "Error: STARTTLS during a mail transaction")
    }

    /// A mail transaction: MAIL, RCPT, DATA, BDAT.
    public enum Transaction {
        public static let senderOk = Reply(250, .init(2, 1, 0), "Ok")
        public static let recipientOk = Reply(250, .init(2, 1, 5), "Ok")
        public static let parametersNeedEHLO = Reply(555, .init(5, 5, 4), "Error: ESMTP parameters need EHLO")
        public static let noValidRecipients = Reply(554, .init(5, 5, 1), "Error: no valid recipients")
        public static let dataAfterBDAT = Reply(503, .init(5, 5, 1), "Error: DATA after BDAT in the same transaction")
        public static func chunkReceived(_ octets: Int) -> Reply { Reply(250, .init(2, 0, 0), "Ok: \(octets) octets received") }
        public static func queued(_ id: String) -> Reply { Reply(250, .init(2, 0, 0), "Ok: queued as \(id)") }
        public static let noMessageInProgress = Reply(451, .init(4, 3, 0), "Error: no message in progress")
        public static let tooManyHops = Reply(554, .init(5, 4, 6), "Error: too many hops (mail loop?)")
        public static let insufficientStorage = Reply(452, .init(4, 3, 1), "Error: insufficient system storage, try again later")
    }

    /// A recipient refused (RCPT), in the words Postfix uses.
    public enum Recipient {
        public static func relayDenied(_ address: String) -> Reply { Reply(554, .init(5, 7, 1), "\(address): Relay access denied") }
        public static func unknownUser(_ address: String) -> Reply {
            Reply(550, .init(5, 1, 1), "\(address): Recipient address rejected: User unknown in local recipient table")
        }
        public static func localPartNotAllowed(_ address: String) -> Reply {
            Reply(553, .init(5, 1, 3), "\(address): Recipient address rejected: local part not allowed")
        }
        /// A bounce address (SRS) that we did not write or that is too old (RFC 3463 5.1.1).
        public static func badSRS(_ address: String, _ why: String) -> Reply {
            Reply(550, .init(5, 1, 1), "\(address): Recipient address rejected: \(why)")
        }
        public static func aliasLoop(_ address: String) -> Reply { Reply(550, .init(5, 4, 6), "\(address): Recipient address rejected: alias loop") }
        public static func localSenderMustAuthenticate(_ sender: String) -> Reply {
            Reply(550, .init(5, 7, 1), "<\(sender)>: Sender address rejected: a sender in a local domain must authenticate")
        }
    }

    /// The message's header checked against an authenticated user (`auth.header_from`).
    public enum HeaderFrom {
        public static let tooLong = Reply(550, .init(5, 7, 1), "Error: From: header too long")
        public static func notYours(_ address: String) -> Reply {
            Reply(550, .init(5, 7, 1), "Error: From: address \(address) is not yours to send as")
        }
    }

    /// Mail authentication of strangers' mail (SPF, DMARC), when enforced. Codes from RFC 7372.
    public enum Authentication {
        /// DMARC `p=reject` and the message fails (RFC 7489 §6.6.4: 5.7.1).
        public static func dmarcReject(_ domain: String, _ why: String) -> Reply {
            Reply(550, .init(5, 7, 1), "Error: \(domain) asks (DMARC p=reject) to refuse mail that fails authentication: \(why)")
        }
        /// The DMARC verdict could not be reached (a DNS failure).
        public static func dmarcTemporary(_ domain: String) -> Reply {
            Reply(451, .init(4, 7, 0), "Error: cannot check the DMARC policy of \(domain) now; try again later")
        }
        /// SPF `fail` (RFC 7372: 5.7.23), with the domain's explanation when it gave one.
        public static func spfFail(_ domain: String, _ explanation: String?) -> Reply {
            Reply(550, .init(5, 7, 23), "Error: SPF of \(domain) does not allow this host to send its mail" + (explanation.map { ": \($0)" } ?? ""))
        }
        /// SPF `temperror` (RFC 7372: 4.7.24).
        public static func spfTemporary(_ domain: String) -> Reply {
            Reply(451, .init(4, 7, 24), "Error: cannot check the SPF record of \(domain) now; try again later")
        }
    }

    /// A command line that does not parse (RFC 5321 §4.1, §4.2.4): the command's usage, or what
    /// is wrong with its address or parameters.
    public enum Syntax {
        public static let nulInCommand = Reply(500, .init(5, 5, 2), "Error: NUL character in command")
        public static let bareLineEnding = Reply(500, .init(5, 5, 2), "Error: bare CR or LF in command")
        /// `Syntax: <usage>`, for a command whose arguments have the wrong shape.
        public static func usage(_ usage: String) -> Reply { Reply(501, .init(5, 5, 4), "Syntax: \(usage)") }
        public static func badSender(_ why: String) -> Reply { Reply(501, .init(5, 1, 7), "Bad sender address syntax: \(why)") }
        public static func badRecipient(_ why: String) -> Reply { Reply(501, .init(5, 1, 3), "Bad recipient address syntax: \(why)") }
        /// A known MAIL or RCPT parameter with a bad value, in words (`BODY must be 7BIT or 8BITMIME`).
        public static func badParameter(_ why: String) -> Reply { Reply(501, .init(5, 5, 4), "Error: \(why)") }
        public static func duplicateParameter(_ keyword: String) -> Reply { badParameter("duplicate \(keyword) parameter") }
        /// RFC 5321 §4.1.1.11: a parameter not advertised.
        public static func unsupportedParameter(_ keyword: String) -> Reply {
            Reply(555, .init(5, 5, 4), "Error: unsupported parameter \(keyword)")
        }
    }

    /// What our client records for a recipient when the outcome is its own judgement rather than
    /// a reply the server gave (a refusal before sending, a lost connection, a missing reply).
    public enum Client {
        public static let tlsRequired = Reply(451, .init(4, 7, 0), "TLS is required for this destination and the server does not offer it")
        public static let noUsableAuthMechanism = Reply(451, .init(4, 7, 0), "the server offers no AUTH mechanism we can use")
        /// The server's refusal of our AUTH, kept with its code.
        public static func authenticationFailed(_ reply: Reply) -> Reply {
            Reply(reply.code, reply.enhancedCode, "authentication failed: \(reply.text)")
        }
        /// The connection ended or broke before the server answered (RFC 3463 4.4.2).
        public static func connectionLost(_ reason: String) -> Reply { Reply(451, .init(4, 4, 2), reason) }
        public static func connectFailed(_ endpoint: String, _ reason: String) -> Reply {
            Reply(451, .init(4, 4, 1), "connect to \(endpoint): \(reason)")
        }
        public static let noReplyForRecipient = Reply(451, .init(4, 3, 0), "no reply for this recipient")
        public static func tooBigForServer(_ size: Int, limit: Int) -> Reply {
            Reply(552, .init(5, 3, 4), "message size \(size) exceeds the receiving server's limit of \(limit)")
        }
        public static let needs8BITMIME = Reply(
            554, .init(5, 6, 3), "the message has 8-bit content and the receiving server does not offer 8BITMIME; not sent rather than altered")
        public static let needsSMTPUTF8 = Reply(553, .init(5, 6, 7), "the message needs SMTPUTF8 and the receiving server does not offer it")
    }
}
