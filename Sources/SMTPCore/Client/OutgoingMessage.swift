/// One message for a client connection to send: the envelope and what the peer must support.
public struct OutgoingMessage: Hashable, Sendable {
    public var reversePath: ReversePath
    public var recipients: [OutgoingRecipient]
    /// Octets of the message as stored (before dot-stuffing).
    public var size: Int
    /// The body has octets above 127: the peer must offer 8BITMIME (RFC 6152).
    public var eightBit: Bool
    /// The envelope or headers need SMTPUTF8 (RFC 6531).
    public var needsSMTPUTF8: Bool
    /// RFC 3461 `RET=` and `ENVID=`, passed on when the peer offers DSN.
    public var ret: String?
    public var envelopeID: String?

    public init(
        reversePath: ReversePath, recipients: [OutgoingRecipient], size: Int, eightBit: Bool = false, needsSMTPUTF8: Bool = false,
        ret: String? = nil, envelopeID: String? = nil
    ) {
        self.reversePath = reversePath
        self.recipients = recipients
        self.size = size
        self.eightBit = eightBit
        self.needsSMTPUTF8 = needsSMTPUTF8
        self.ret = ret
        self.envelopeID = envelopeID
    }
}

public struct OutgoingRecipient: Hashable, Sendable {
    public var mailbox: Mailbox
    /// RFC 3461 `NOTIFY=` and `ORCPT=`, passed on when the peer offers DSN.
    public var notify: String?
    public var originalRecipient: String?

    public init(_ mailbox: Mailbox, notify: String? = nil, originalRecipient: String? = nil) {
        self.mailbox = mailbox
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

/// What became of one recipient on one attempt.
public enum RecipientOutcome: Hashable, Sendable {
    /// The peer took responsibility (250 after the data).
    case delivered(Reply)
    /// A temporary failure: try again later.
    case deferred(Reply)
    /// A permanent failure: do not try again; tell the sender.
    case failed(Reply)

    public init(_ reply: Reply) {
        if reply.isPositive {
            self = .delivered(reply)
        } else if reply.isPermanent {
            self = .failed(reply)
        } else {
            self = .deferred(reply)
        }
    }

    public var reply: Reply {
        switch self {
        case .delivered(let r), .deferred(let r), .failed(let r): return r
        }
    }
}

/// The extensions a server offered in its EHLO reply (RFC 5321 §4.1.1.1).
public struct PeerExtensions: Hashable, Sendable {
    public var keywords: [String: [String]] = [:]

    public init() {}

    public init(ehloReply: Reply) {
        for line in ehloReply.lines.dropFirst() {
            let parts = line.split(separator: " ").map(String.init)
            guard let first = parts.first else { continue }
            keywords[first.uppercased()] = Array(parts.dropFirst())
        }
    }

    public func offers(_ keyword: String) -> Bool { keywords[keyword] != nil }
    public var pipelining: Bool { offers("PIPELINING") }
    public var eightBitMIME: Bool { offers("8BITMIME") }
    public var smtpUTF8: Bool { offers("SMTPUTF8") }
    public var dsn: Bool { offers("DSN") }
    public var startTLS: Bool { offers("STARTTLS") }
    /// RFC 3030: BDAT.
    public var chunking: Bool { offers("CHUNKING") }
    /// RFC 1870: the declared maximum, nil when SIZE is absent or 0 (no limit).
    public var sizeLimit: Int? {
        guard let v = keywords["SIZE"]?.first, let n = Int(v), n > 0 else { return nil }
        return n
    }
}
