import NIOCore
import SMTPCore

/// Runs a `ServerSession` in memory the way the I/O layer would, with a stand-in for the mail
/// side: `carolyn@xyz.com`, `bob@xyz.com` and postmaster exist; other xyz.com users do not; other
/// domains are relaying, which is denied.
struct SessionDriver {
    var session: ServerSession
    var replies: [String] = []
    var closed = false
    var messages: [String] = []
    var current: ByteBuffer?
    var startedTLS = false
    /// Credentials the session asked to check, in order.
    var authentications: [SASLCredentials] = []

    init(configuration: ServerSessionConfiguration = ServerSessionConfiguration(hostname: "mx.test", extensions: .init(startTLS: true, dsn: true))) {
        session = ServerSession(configuration: configuration)
    }

    static func verdict(_ path: ForwardPath) -> Reply {
        switch path {
        case .postmaster: return Reply(250, .init(2, 1, 5), "Ok")
        case .mailbox(let m):
            guard m.domain.lowercased() == "xyz.com" else { return Reply(554, .init(5, 7, 1), "Relay access denied") }
            return ["carolyn", "bob", "postmaster"].contains(m.localPart.lowercased())
                ? Reply(250, .init(2, 1, 5), "Ok") : Reply(550, .init(5, 1, 1), "User unknown")
        }
    }

    /// The one user: `alice@xyz.com` with password `secret`, who may also send as `@abcd.com`.
    static func verdict(_ credentials: SASLCredentials) -> AuthenticationOutcome {
        guard credentials.user == "alice@xyz.com", credentials.password == Array("secret".utf8), credentials.authorizationID.isEmpty
        else { return .refused(Reply(535, .init(5, 7, 8), "Error: authentication failed")) }
        return .accepted(
            AuthenticatedIdentity(user: "alice@xyz.com", senders: SenderPolicy(addresses: ["alice@xyz.com"], domains: ["abcd.com"])))
    }

    mutating func start() { run(session.start()) }

    /// A driver past the greeting, on the default configuration with these limits changed.
    static func started(limits change: (inout SMTPLimits) -> Void) -> SessionDriver {
        var limits = SMTPLimits()
        change(&limits)
        var driver = SessionDriver(configuration: .init(hostname: "mx.test", limits: limits))
        driver.start()
        return driver
    }

    mutating func send(_ bytes: [UInt8]) { run(session.receive(ByteBuffer(bytes: bytes))) }

    mutating func send(_ text: String) { send(Array(text.utf8)) }

    mutating func run(_ actions: [ServerAction]) {
        for action in actions {
            switch action {
            case .send(let reply):
                replies += reply.wireText.split(separator: "\r\n").map(String.init)
            case .close:
                closed = true
            case .checkRecipient(let r, _):
                run(session.recipientChecked(Self.verdict(r.path)))
            case .beginMessage:
                current = ByteBuffer()
            case .messageData(var data):
                current?.writeBuffer(&data)
            case .commitMessage:
                messages.append(current.map { String(buffer: $0) } ?? "")
                current = nil
                run(session.messageCommitted(Reply(250, .init(2, 0, 0), "Ok: queued as TEST\(messages.count)")))
            case .abortMessage:
                current = nil
            case .startTLS:
                startedTLS = true
            case .authenticate(let credentials):
                authentications.append(credentials)
                run(session.authenticationChecked(Self.verdict(credentials)))
            }
        }
    }

    /// Takes the replies gathered so far.
    mutating func takeReplies() -> [String] {
        defer { replies = [] }
        return replies
    }
}
