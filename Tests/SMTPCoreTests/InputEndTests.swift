import NIOCore
import SMTPCore
import Testing

/// A client's half-close (its FIN after the last command) and the server's own storage trouble:
/// what the session answers before it closes, and what counts against the client.
@Suite struct InputEndTests {
    static let configuration = ServerSessionConfiguration(hostname: "mx.test")

    /// The replies the actions send, and whether they close.
    static func replies(_ actions: [ServerAction]) -> (codes: [Int], closes: Bool) {
        var codes: [Int] = []
        var closes = false
        for action in actions {
            if case .send(let reply) = action { codes.append(reply.code) }
            if case .close = action { closes = true }
        }
        return (codes, closes)
    }

    /// Runs actions the way the I/O layer would, accepting every recipient, and stops at the commit.
    static func runUntilCommit(_ session: inout ServerSession, _ actions: [ServerAction]) -> (codes: [Int], commit: Bool) {
        var codes: [Int] = []
        var pending = actions
        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .send(let reply): codes.append(reply.code)
            case .checkRecipient: pending += session.recipientChecked(Reply(250, .init(2, 1, 5), "Ok"))
            case .commitMessage: return (codes, true)
            default: break
            }
        }
        return (codes, false)
    }

    static let wholeDialogue =
        "EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\nSubject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"

    @Test func everythingBeforeTheFINIsAnsweredEvenWhileTheCommitIsUnderWay() {
        var session = ServerSession(configuration: Self.configuration)
        _ = session.start()
        // One write, then the client's FIN while the message is being committed.
        let (before, commit) = Self.runUntilCommit(&session, session.receive(ByteBuffer(string: Self.wholeDialogue)))
        #expect(before == [250, 250, 250, 354])
        #expect(commit)
        let atFIN = Self.replies(session.inputEnded())
        #expect(atFIN.codes.isEmpty)
        #expect(!atFIN.closes, "the 250 and the 221 are still to come")
        let after = Self.replies(session.messageCommitted(Reply(250, .init(2, 0, 0), "Ok: queued as X")))
        #expect(after.codes == [250, 221])
        #expect(after.closes)
    }

    @Test func pipelinedCommandsThenFINAreAnsweredThenClosed() {
        var session = ServerSession(configuration: Self.configuration)
        _ = session.start()
        let (codes, _) = Self.runUntilCommit(&session, session.receive(ByteBuffer(string: "EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nNOOP\r\n")))
        #expect(codes == [250, 250, 250])
        let end = Self.replies(session.inputEnded())
        #expect(end.codes.isEmpty)
        #expect(end.closes, "nothing more can come: the session ends")
        #expect(session.isClosed)
    }

    @Test func aMessageCutOffByTheFINIsThrownAway() {
        var session = ServerSession(configuration: Self.configuration)
        _ = session.start()
        let dialogue = "EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\nSubject: x\r\n\r\nhalf a mess"
        let (_, commit) = Self.runUntilCommit(&session, session.receive(ByteBuffer(string: dialogue)))
        #expect(!commit)
        let end = session.inputEnded()
        #expect(end.contains { if case .abortMessage = $0 { return true } else { return false } })
        #expect(Self.replies(end).closes)
    }

    @Test func aPartialCommandLineBeforeTheFINIsNotExecuted() {
        var session = ServerSession(configuration: Self.configuration)
        _ = session.start()
        _ = session.receive(ByteBuffer(string: "EHLO c\r\nQUI"))
        let end = Self.replies(session.inputEnded())
        #expect(end.codes.isEmpty)
        #expect(end.closes)
    }

    /// A full disk is the server's trouble: a client that keeps trying is not cut off for it.
    @Test func temporaryCommitFailuresDoNotCountAgainstTheClient() {
        var limits = SMTPLimits()
        limits.maxErrors = 3
        var session = ServerSession(configuration: ServerSessionConfiguration(hostname: "mx.test", limits: limits))
        _ = session.start()
        _ = session.receive(ByteBuffer(string: "EHLO c\r\n"))
        for _ in 0..<5 {
            let (_, commit) = Self.runUntilCommit(
                &session,
                session.receive(ByteBuffer(string: "MAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\nhi\r\n.\r\n")))
            #expect(commit)
            let reply = Self.replies(session.messageCommitted(Reply(452, .init(4, 3, 1), "Insufficient system storage")))
            #expect(reply.codes == [452])
            #expect(!reply.closes)
        }
        #expect(session.errorCount == 0)
        // A refusal of the client's own making still counts.
        _ = session.receive(ByteBuffer(string: "BOGUS\r\n"))
        #expect(session.errorCount == 1)
    }
}
