import ExtrasBase64

/// A user name and password for AUTH (RFC 4954) at a smarthost.
public struct ClientCredentials: Hashable, Sendable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// What the I/O layer must do for the client session.
public enum ClientAction: Hashable, Sendable {
    /// Write this command line (CRLF is added).
    case send(String)
    /// Stream message number `index` through a `DataEncoder`, then its `CRLF.CRLF`.
    case sendMessage(index: Int)
    /// Send message number `index` as one `BDAT <octets> LAST` (RFC 3030): its octets with line
    /// endings made canonical (`DataEncoder(dotStuffing: false)`), counted before the command.
    case sendChunkedMessage(index: Int)
    /// Start TLS now (after the peer's 220 to STARTTLS), then call `tlsEstablished()`.
    case startTLS
    /// The outcome of every recipient of message `index`, in the order given.
    case messageFinished(index: Int, outcomes: [RecipientOutcome])
    /// The server is not prepared to take mail (greeting, EHLO and HELO refused): try another
    /// exchanger, or later. No message was attempted.
    case notPrepared(Reply)
    /// Close the connection.
    case close
}

/// How long to wait for each kind of reply (RFC 5321 §4.5.3.2).
public enum ClientWait: Hashable, Sendable {
    case greeting, command, dataInitiation, dataTermination
}

/// The client side of an SMTP session delivering one or more messages to one server, as a value:
/// replies go in, actions come out. It waits for the greeting, says EHLO and falls back to HELO
/// when EHLO is refused (the seed's rule), uses PIPELINING, SIZE, 8BITMIME, SMTPUTF8 and DSN when
/// offered, and reports each recipient's outcome: a RCPT reply for refused recipients, the reply
/// after the data for accepted ones.
public struct ClientSession: Sendable {
    enum Expect: Hashable, Sendable {
        case greeting, ehlo, helo, startTLS
        case authPlain, authLoginUser, authLoginPassword, authDone
        case mail, rcpt(Int), data, dataEnd, dataEndIgnored, rset, quit
        /// LMTP: the reply after the data for the accepted recipient `k` (RFC 2033 §4.2).
        case lmtpDataEnd(Int)
    }

    /// SMTP (RFC 5321), or LMTP (RFC 2033): LHLO instead of EHLO, no fall-back to HELO, and one
    /// reply per accepted recipient after the data, so that each recipient's delivery succeeds or
    /// fails on its own.
    public enum Dialect: Hashable, Sendable {
        case smtp, lmtp
    }

    public let heloName: String
    public let messages: [OutgoingMessage]
    public let dialect: Dialect
    /// Start TLS when the peer offers it.
    public var useStartTLS: Bool
    /// Deliver only over TLS: a peer that does not offer STARTTLS, or refuses it, is not prepared.
    public var requireTLS: Bool
    /// Authenticate first (a smarthost). Credentials are only ever sent over TLS.
    public var credentials: ClientCredentials?
    public private(set) var peer = PeerExtensions()
    public private(set) var usedEHLO = false
    public private(set) var isTLS = false
    public private(set) var finished = false

    /// Why the session gave up before any message (with `.notPrepared`), so that a log never says
    /// the server "said" what it did not.
    public enum NotPreparedCause: Hashable, Sendable {
        /// The server refused: its greeting, EHLO and HELO, or AUTH. The reply is its words.
        case refused
        /// Its offer does not meet ours (TLS required and not offered, no AUTH mechanism we use).
        case ourRequirement
        /// The connection broke, or the server went quiet, before it was ready.
        case connectionLost
    }
    public private(set) var notPreparedCause: NotPreparedCause?

    private var expects: [Expect] = [.greeting]
    private var current = 0
    private var outcomes: [RecipientOutcome?] = []
    private var accepted: [Int] = []
    private var mailRefusal: Reply?
    private var needsReset = false

    public init(
        heloName: String, messages: [OutgoingMessage], useStartTLS: Bool = false, requireTLS: Bool = false,
        credentials: ClientCredentials? = nil, dialect: Dialect = .smtp
    ) {
        self.dialect = dialect
        self.heloName = heloName
        self.messages = messages
        self.requireTLS = requireTLS || credentials != nil
        self.useStartTLS = useStartTLS || self.requireTLS
        self.credentials = credentials
    }

    /// Messages up to this size go by BDAT when the peer offers CHUNKING: the client holds one
    /// whole to count its octets after making its line endings canonical. Larger ones go by DATA.
    public static let chunkingLimit = 1 << 20

    /// What the next reply is, for the timeout to apply.
    public var waitingFor: ClientWait {
        switch expects.first {
        case .greeting: return .greeting
        case .data: return .dataInitiation
        case .dataEnd, .dataEndIgnored, .lmtpDataEnd: return .dataTermination
        default: return .command
        }
    }

    // MARK: Events

    /// A complete reply from the server.
    public mutating func receive(_ reply: Reply) -> [ClientAction] {
        guard !finished, !expects.isEmpty else { return [] }
        let expect = expects.removeFirst()
        var actions: [ClientAction] = []
        let beforeMail = [.greeting, .ehlo, .helo, .startTLS, .authPlain, .authLoginUser, .authLoginPassword, .authDone].contains(expect)
        if reply.code == 421 && expect != .quit && !beforeMail {
            // The server is closing the channel (RFC 5321 §3.8): everything left waits for later.
            abandon(with: reply, &actions)
            return actions
        }
        switch expect {
        case .greeting:
            if reply.code == 220 {
                actions.append(.send(greetingCommand))
                expects.append(.ehlo)
            } else {
                notPrepared(reply, .refused, &actions)
            }
        case .ehlo:
            if reply.isPositive {
                usedEHLO = true
                peer = PeerExtensions(ehloReply: reply)
                if useStartTLS && peer.startTLS && !isTLS {
                    actions.append(.send("STARTTLS"))
                    expects.append(.startTLS)
                } else if requireTLS && !isTLS {
                    notPrepared(.Client.tlsRequired, .ourRequirement, &actions)
                } else if credentials != nil {
                    authenticate(&actions)
                } else {
                    startMessage(&actions)
                }
            } else if reply.isPermanent && requireTLS {
                notPrepared(.Client.tlsRequired, .ourRequirement, &actions)
            } else if reply.isPermanent && dialect == .smtp {
                // Not an ESMTP server: go on in plain SMTP, without extensions.
                peer = PeerExtensions()
                actions.append(.send("HELO \(heloName)"))
                expects.append(.helo)
            } else {
                notPrepared(reply, .refused, &actions)
            }
        case .helo:
            if reply.isPositive {
                startMessage(&actions)
            } else {
                notPrepared(reply, .refused, &actions)
            }
        case .startTLS:
            if reply.code == 220 {
                actions.append(.startTLS)
            } else if requireTLS {
                notPrepared(.Client.tlsRequired, .ourRequirement, &actions)
            } else {
                // Opportunistic TLS: go on without it.
                startMessage(&actions)
            }
        case .authPlain, .authDone:
            if reply.code == 235 {
                startMessage(&actions)
            } else {
                notPrepared(.Client.authenticationFailed(reply), .refused, &actions)
            }
        case .authLoginUser, .authLoginPassword:
            guard reply.code == 334, let c = credentials else {
                notPrepared(.Client.authenticationFailed(reply), .refused, &actions)
                break
            }
            let value = expect == .authLoginUser ? c.user : c.password
            actions.append(.send(Base64.encodeToString(bytes: Array(value.utf8))))
            expects.append(expect == .authLoginUser ? .authLoginPassword : .authDone)
        case .mail:
            if !reply.isPositive {
                mailRefusal = reply
                if !peer.pipelining { finishMessage(&actions) }
            } else if !peer.pipelining {
                sendRecipient(0, &actions)
            }
        case .rcpt(let k):
            if mailRefusal == nil {
                if reply.isPositive {
                    accepted.append(k)
                } else {
                    outcomes[k] = RecipientOutcome(reply)
                }
            }
            let last = k + 1 == messages[current].recipients.count
            if !peer.pipelining && !last {
                sendRecipient(k + 1, &actions)
            } else if last && usesChunking(messages[current]) {
                // BDAT goes once the recipients are known: it carries the data with it.
                if !accepted.isEmpty && mailRefusal == nil {
                    actions.append(.sendChunkedMessage(index: current))
                    expectDataEnd()
                } else {
                    finishMessage(&actions)
                }
            } else if !peer.pipelining {
                if !accepted.isEmpty {
                    actions.append(.send("DATA"))
                    expects.append(.data)
                } else {
                    finishMessage(&actions)
                }
            }
        case .data:
            if reply.code == 354 {
                if accepted.isEmpty || mailRefusal != nil {
                    // RFC 2920 §3.1: a pipelined DATA accepted without recipients gets an empty message.
                    actions.append(.send("."))
                    expects.append(.dataEndIgnored)
                } else {
                    actions.append(.sendMessage(index: current))
                    expectDataEnd()
                }
            } else {
                if mailRefusal == nil {
                    for k in accepted { outcomes[k] = RecipientOutcome(reply) }
                }
                finishMessage(&actions)
            }
        case .dataEnd:
            for k in accepted { outcomes[k] = RecipientOutcome(reply) }
            needsReset = !reply.isPositive
            finishMessage(&actions)
        case .dataEndIgnored:
            finishMessage(&actions)
        case .lmtpDataEnd(let k):
            outcomes[k] = RecipientOutcome(reply)
            if k == accepted.last { finishMessage(&actions) }
        case .rset:
            break
        case .quit:
            finished = true
            actions.append(.close)
        }
        return actions
    }

    /// TLS is up after STARTTLS: the session starts over with EHLO (RFC 3207 §4.2).
    public mutating func tlsEstablished() -> [ClientAction] {
        isTLS = true
        peer = PeerExtensions()
        expects = [.ehlo]
        return [.send(greetingCommand)]
    }

    private var greetingCommand: String { dialect == .lmtp ? "LHLO \(heloName)" : "EHLO \(heloName)" }

    /// The connection broke, or the server stopped answering: whatever is not settled waits for
    /// another attempt. (A message whose data was sent but not answered may arrive twice; losing it
    /// would be worse.)
    public mutating func connectionLost(_ reason: String) -> [ClientAction] {
        guard !finished else { return [] }
        var actions: [ClientAction] = []
        let reply = Reply.Client.connectionLost(reason)
        if let next = expects.first, [.greeting, .ehlo, .helo, .startTLS, .authPlain, .authLoginUser, .authLoginPassword, .authDone].contains(next) {
            finished = true
            notPreparedCause = .connectionLost
            actions += [.notPrepared(reply), .close]
            return actions
        }
        abandon(with: reply, &actions)
        return actions
    }

    // MARK: Steps

    /// AUTH PLAIN when offered, else LOGIN (RFC 4954); neither is not prepared.
    private mutating func authenticate(_ actions: inout [ClientAction]) {
        guard let c = credentials else { return startMessage(&actions) }
        let mechanisms = Set((peer.keywords["AUTH"] ?? []).map { $0.uppercased() })
        if mechanisms.contains("PLAIN") {
            let token = Base64.encodeToString(bytes: [0] + Array(c.user.utf8) + [0] + Array(c.password.utf8))
            actions.append(.send("AUTH PLAIN \(token)"))
            expects.append(.authPlain)
        } else if mechanisms.contains("LOGIN") {
            actions.append(.send("AUTH LOGIN"))
            expects.append(.authLoginUser)
        } else {
            notPrepared(.Client.noUsableAuthMechanism, .ourRequirement, &actions)
        }
    }

    private mutating func notPrepared(_ reply: Reply, _ cause: NotPreparedCause, _ actions: inout [ClientAction]) {
        notPreparedCause = cause
        finished = true
        actions.append(.notPrepared(reply))
        if reply.code != 421 { actions.append(.send("QUIT")) }
        actions.append(.close)
    }

    /// Settles the current message and every later one as deferred with this reply, then closes.
    private mutating func abandon(with reply: Reply, _ actions: inout [ClientAction]) {
        if current < messages.count, !outcomes.isEmpty {
            let settled = outcomes.map { $0 ?? .deferred(reply) }
            actions.append(.messageFinished(index: current, outcomes: settled))
            current += 1
        }
        while current < messages.count {
            actions.append(.messageFinished(index: current, outcomes: messages[current].recipients.map { _ in .deferred(reply) }))
            current += 1
        }
        finished = true
        expects = []
        actions.append(.close)
    }

    private mutating func startMessage(_ actions: inout [ClientAction]) {
        while current < messages.count {
            let message = messages[current]
            outcomes = Array(repeating: nil, count: message.recipients.count)
            accepted = []
            mailRefusal = nil
            if let refusal = precheck(message) {
                actions.append(.messageFinished(index: current, outcomes: message.recipients.map { _ in .failed(refusal) }))
                current += 1
                outcomes = []
                continue
            }
            if needsReset {
                actions.append(.send("RSET"))
                expects.append(.rset)
                needsReset = false
            }
            actions.append(.send(mailCommand(message)))
            expects.append(.mail)
            if peer.pipelining {
                for k in message.recipients.indices {
                    actions.append(.send(rcptCommand(message.recipients[k])))
                    expects.append(.rcpt(k))
                }
                if !usesChunking(message) {
                    actions.append(.send("DATA"))
                    expects.append(.data)
                }
            }
            return
        }
        actions.append(.send("QUIT"))
        expects.append(.quit)
    }

    /// The reply (SMTP) or replies (LMTP: one per accepted recipient) after the data.
    private mutating func expectDataEnd() {
        if dialect == .lmtp {
            expects += accepted.map { .lmtpDataEnd($0) }
        } else {
            expects.append(.dataEnd)
        }
    }

    private func usesChunking(_ message: OutgoingMessage) -> Bool {
        peer.chunking && message.size <= Self.chunkingLimit
    }

    private mutating func sendRecipient(_ k: Int, _ actions: inout [ClientAction]) {
        actions.append(.send(rcptCommand(messages[current].recipients[k])))
        expects.append(.rcpt(k))
    }

    private mutating func finishMessage(_ actions: inout [ClientAction]) {
        let fallback = mailRefusal ?? Reply.Client.noReplyForRecipient
        let settled = outcomes.map { $0 ?? RecipientOutcome(fallback) }
        actions.append(.messageFinished(index: current, outcomes: settled))
        if mailRefusal != nil || accepted.isEmpty { needsReset = true }
        current += 1
        outcomes = []
        // Every reply of this transaction is in (with pipelining, those of RCPT and DATA after a
        // refused MAIL too): the next message may begin.
        startMessage(&actions)
    }

    /// Refuses, before sending anything, a message the peer cannot take intact.
    private func precheck(_ message: OutgoingMessage) -> Reply? {
        if let limit = peer.sizeLimit, message.size > limit {
            return .Client.tooBigForServer(message.size, limit: limit)
        }
        if message.eightBit && !peer.eightBitMIME {
            return .Client.needs8BITMIME
        }
        if message.needsSMTPUTF8 && !peer.smtpUTF8 {
            return .Client.needsSMTPUTF8
        }
        return nil
    }

    private func mailCommand(_ m: OutgoingMessage) -> String {
        var s = "MAIL FROM:\(m.reversePath)"
        if peer.offers("SIZE") { s += " SIZE=\(m.size)" }
        if m.eightBit && peer.eightBitMIME { s += " BODY=8BITMIME" }
        if m.needsSMTPUTF8 && peer.smtpUTF8 { s += " SMTPUTF8" }
        if peer.dsn {
            if let ret = m.ret { s += " RET=\(ret)" }
            if let envid = m.envelopeID { s += " ENVID=\(envid)" }
        }
        return s
    }

    private func rcptCommand(_ r: OutgoingRecipient) -> String {
        var s = "RCPT TO:<\(r.mailbox)>"
        if peer.dsn {
            if let notify = r.notify { s += " NOTIFY=\(notify)" }
            if let orcpt = r.originalRecipient { s += " ORCPT=\(orcpt)" }
        }
        return s
    }
}
