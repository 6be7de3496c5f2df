import NIOCore

/// What the I/O layer must do for the server session.
public enum ServerAction: Hashable, Sendable {
    /// Write this reply.
    case send(Reply)
    /// Close the connection once everything before it is written.
    case close
    /// Decide on a recipient, then call `ServerSession.recipientChecked(_:)`. The session reads
    /// no further input until then.
    case checkRecipient(AcceptedRecipient, SessionTransaction)
    /// A message begins: open somewhere to stream it to.
    case beginMessage(MessageStart)
    /// Decoded message octets (dot-stuffing removed, CRLF kept), in order.
    case messageData(ByteBuffer)
    /// The message is complete and valid: make it durable, then call
    /// `ServerSession.messageCommitted(_:)` with the reply for the client.
    case commitMessage
    /// The message was refused or the transaction abandoned: throw away what was stored.
    case abortMessage
    /// Reply `220` is queued before this: start TLS now, before reading anything else.
    case startTLS
    /// Check these credentials, then call `ServerSession.authenticationChecked(_:)`. The session
    /// reads no further input until then. Never log them.
    case authenticate(SASLCredentials)
}

/// The verdict on AUTH credentials.
public enum AuthenticationOutcome: Hashable, Sendable {
    case accepted(AuthenticatedIdentity)
    /// `535 5.7.8` for bad credentials, `454 4.7.0` for a temporary failure, `421` to close.
    case refused(Reply)
}
