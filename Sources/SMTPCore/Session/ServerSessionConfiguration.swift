/// What a server session needs to know that is not the client's doing.
public struct ServerSessionConfiguration: Hashable, Sendable {
    /// Our name in the greeting and the EHLO reply.
    public var hostname: String
    public var limits: SMTPLimits
    public var extensions: AdvertisedExtensions
    /// On a submission port, MAIL needs a successful AUTH first (RFC 6409 §4.3).
    public var requiresAuthentication: Bool
    /// The connection is encrypted from its start (implicit TLS, RFC 8314).
    public var implicitTLS: Bool
    /// MAIL and RCPT need `<address>`; by default a bare address is taken too (`CommandParser`).
    public var strictAddressSyntax = false

    public init(
        hostname: String, limits: SMTPLimits = SMTPLimits(), extensions: AdvertisedExtensions = AdvertisedExtensions(),
        requiresAuthentication: Bool = false, implicitTLS: Bool = false
    ) {
        self.hostname = hostname
        self.limits = limits
        self.extensions = extensions
        self.requiresAuthentication = requiresAuthentication
        self.implicitTLS = implicitTLS
    }
}

/// The envelope of the transaction under way, as the session has accepted it.
public struct SessionTransaction: Hashable, Sendable {
    public var reversePath: ReversePath
    public var parameters: MailParameters
    public var recipients: [AcceptedRecipient] = []
    /// RCPT commands seen, accepted or not: DATA after only rejected ones gets 554, not 503.
    public var recipientAttempts = 0

    public init(reversePath: ReversePath, parameters: MailParameters) {
        self.reversePath = reversePath
        self.parameters = parameters
    }
}

public struct AcceptedRecipient: Hashable, Sendable {
    public var path: ForwardPath
    public var parameters: RecipientParameters

    public init(path: ForwardPath, parameters: RecipientParameters) {
        self.path = path
        self.parameters = parameters
    }
}

/// What the I/O layer needs to store a message: the envelope and how the client came.
public struct MessageStart: Hashable, Sendable {
    public var transaction: SessionTransaction
    /// The HELO/EHLO name the client gave.
    public var heloName: String
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA` (RFC 3848), for the Received header.
    public var protocolName: String
}
