import Foundation

/// The control socket's protocol: one JSON request line (for `submit`, followed by exactly
/// `length` octets of message), one JSON response line, then the server closes. The socket is a
/// Unix domain socket that only its owner can open (mode 0600): whoever can open it may queue
/// mail from any sender, as with Postfix's `postdrop`.
public struct ControlRequest: Codable, Sendable {
    public enum Command: String, Codable, Sendable {
        case list, show, flush, delete, bounce, submit, reload, verify, hold, release, trace
    }

    public var command: Command
    public var id: String?
    /// `submit`: the envelope sender (empty for `<>`) and recipients; `verify`: the recipients
    /// to check as `submit` would (ok, or the reason one is refused).
    public var sender: String?
    public var recipients: [String]?
    /// `submit`: the octets of message that follow the request line.
    public var length: Int?
    /// `submit`: who handed the message over, for the Received field.
    public var submitter: String?

    public init(command: Command, id: String? = nil, sender: String? = nil, recipients: [String]? = nil, length: Int? = nil, submitter: String? = nil) {
        self.command = command
        self.id = id
        self.sender = sender
        self.recipients = recipients
        self.length = length
        self.submitter = submitter
    }
}

public struct ControlResponse: Codable, Sendable {
    public struct QueueEntry: Codable, Sendable, Equatable {
        public struct Recipient: Codable, Sendable, Equatable {
            public var address: String
            public var original: String
            public var status: String
            public var attempts: Int
            public var lastError: String?
        }

        public var id: String
        public var arrival: Int64
        public var size: Int
        public var sender: String
        public var recipients: [Recipient]
        public var nextAttempt: Int64?
        /// Held by the administrator (absent: no).
        public var held: Bool?
    }

    public var ok: Bool
    public var error: String?
    public var entries: [QueueEntry]?
    /// `show`: the envelope file and the message's header section.
    public var text: String?
    /// `submit`: the queue id given to the message.
    public var id: String?
    /// `reload`: what changed.
    public var reload: ReloadReport?
    /// `trace`: the message's delivery attempts, oldest first, each its dialogue.
    public var attempts: [String]?

    public init(
        ok: Bool, error: String? = nil, entries: [QueueEntry]? = nil, text: String? = nil, id: String? = nil, reload: ReloadReport? = nil
    ) {
        self.reload = reload
        self.ok = ok
        self.error = error
        self.entries = entries
        self.text = text
        self.id = id
    }

    public static func failure(_ message: String) -> ControlResponse { ControlResponse(ok: false, error: message) }
}
