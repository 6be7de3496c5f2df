import NIOCore
@testable import SMTPCore
import TestSupport
import Testing

@Suite struct ServerSessionTests {
    @Test(arguments: Transcript.names)
    func transcript(name: String) throws {
        let transcript = try Transcript.named(name)
        var driver = SessionDriver()
        driver.start()
        for exchange in transcript.exchanges {
            if !exchange.send.isEmpty { driver.send(exchange.send) }
            let problems = Transcript.compare(driver.takeReplies(), closed: driver.closed, with: exchange.expect)
            #expect(problems.isEmpty, "\(name): \(problems)")
            if !problems.isEmpty { return }
        }
    }

    @Test func figure1DeliversTheMessageUnstuffed() throws {
        var driver = SessionDriver()
        driver.start()
        for exchange in try Transcript.named("figure1.smtp").exchanges { driver.send(exchange.send) }
        #expect(driver.messages == ["From: elinor@abcd.com\r\nTo: carolyn@xyz.com\r\nSubject: Earth orbit stable\r\n\r\nHappy birthday!\r\n"])
    }

    @Test func smuggledCommandsNeverBecomeAMessage() throws {
        var driver = SessionDriver()
        driver.start()
        for exchange in try Transcript.named("smuggling.smtp").exchanges { driver.send(exchange.send) }
        #expect(driver.messages.isEmpty)
    }

    @Test func bytesArrivingOneAtATimeGiveTheSameReplies() throws {
        for name in Transcript.names {
            let transcript = try Transcript.named(name)
            var whole = SessionDriver()
            var trickle = SessionDriver()
            whole.start()
            trickle.start()
            for exchange in transcript.exchanges {
                whole.send(exchange.send)
                for b in exchange.send { trickle.send([b]) }
            }
            #expect(whole.replies == trickle.replies, "\(name)")
            #expect(whole.messages == trickle.messages, "\(name)")
        }
    }

    /// An idle session holds no input buffer: it lets go of the bytes it consumed (usually the
    /// channel's receive buffer, which the channel then reuses) rather than keeping an emptied copy.
    @Test func aConsumedBufferIsNotKept() {
        var session = ServerSession(configuration: .init(hostname: "mx.test"))
        _ = session.start(refusal: nil)
        #expect(!session.receive(ByteBuffer(string: "EHLO client.test\r\n")).isEmpty)
        #expect(session.bufferCapacity == 0)
        // A partial line is kept (the start of the next command) until it is complete.
        _ = session.receive(ByteBuffer(string: "NOOP"))
        #expect(session.bufferedBytes == 4)
        #expect(session.receive(ByteBuffer(string: "\r\n")).count == 1)
        #expect(session.bufferCapacity == 0)
    }

    @Test func notPreparedGreetingCloses() {
        var session = ServerSession(configuration: .init(hostname: "mx.test"))
        let refusal = Reply(421, .init(4, 3, 2), "mx.test not accepting mail, try again later")
        #expect(session.start(refusal: refusal) == [.send(refusal), .close])
        #expect(session.receive(ByteBuffer(string: "EHLO x\r\n")).isEmpty)
    }

    @Test func tooManyRecipients() {
        var driver = SessionDriver.started { $0.maxRecipients = 2 }
        driver.send("EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<carolyn@xyz.com>\r\nRCPT TO:<bob@xyz.com>\r\nRCPT TO:<postmaster@xyz.com>\r\n")
        #expect(driver.replies.suffix(3).map { String($0.prefix(9)) } == ["250 2.1.5", "250 2.1.5", "452 4.5.3"])
    }

    @Test func messagesAndCommandsPerConnectionAreLimited() {
        var driver = SessionDriver.started { $0.maxMessagesPerConnection = 1 }
        driver.send("EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@c.example>\r\n")
        #expect(driver.messages.count == 1)
        #expect(driver.replies.last?.hasPrefix("421 4.7.0 mx.test Error: too many messages") == true)
        #expect(driver.closed)

        var few = SMTPLimits()
        few.maxCommandsPerConnection = 3
        var chatty = SessionDriver(configuration: .init(hostname: "mx.test", limits: few))
        chatty.start()
        chatty.send("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n")
        #expect(chatty.replies.suffix(2).map { String($0.prefix(9)) } == ["250 2.0.0", "421 4.7.0"])
        #expect(chatty.closed)
    }

    @Test func sizeLimitIsAdvertisedAndEnforced() {
        var driver = SessionDriver.started { $0.maxMessageSize = 20 }
        driver.send("EHLO c\r\n")
        #expect(driver.takeReplies().contains("250-SIZE 20"))
        driver.send("MAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\n")
        driver.send("0123456789\r\n0123456789\r\n.\r\nNOOP\r\n")
        #expect(Array(driver.replies.suffix(2)) == ["552 5.3.4 Error: message exceeds fixed maximum message size", "250 2.0.0 Ok"])
        #expect(driver.messages.isEmpty)
    }

    @Test func shutdownClosesIdleSessionsAndWaitsForTransactions() {
        var idle = SessionDriver()
        idle.start()
        idle.send("EHLO c\r\n")
        idle.run(idle.session.shutdown())
        #expect(idle.replies.last?.hasPrefix("421 4.3.2") == true)
        #expect(idle.closed)

        var busy = SessionDriver()
        busy.start()
        busy.send("EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\nhello\r\n")
        busy.run(busy.session.shutdown())
        #expect(!busy.closed)
        busy.send(".\r\n")
        #expect(busy.messages == ["hello\r\n"])
        #expect(Array(busy.replies.suffix(2).map { String($0.prefix(9)) }) == ["250 2.0.0", "421 4.3.2"])
        #expect(busy.closed)
    }

    @Test func timeoutSays421AndAbandonsTheMessage() {
        var driver = SessionDriver()
        driver.start()
        driver.send("EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\npartial")
        let actions = driver.session.timedOut()
        #expect(actions == [.abortMessage, .send(.timeout), .close])
    }

    @Test func startTLSDiscardsPipelinedPlaintextAndForgetsHELO() {
        var driver = SessionDriver(configuration: .init(hostname: "mx.test", extensions: .init(startTLS: true)))
        driver.start()
        driver.send("EHLO c\r\n")
        #expect(driver.takeReplies().contains("250-STARTTLS"))
        driver.send("STARTTLS extra\r\n")
        #expect(driver.takeReplies() == ["501 5.5.4 Syntax: STARTTLS takes no parameters"])
        driver.send("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
        #expect(driver.takeReplies() == ["220 2.0.0 Ready to start TLS"])
        #expect(driver.startedTLS)
        driver.send("RCPT TO:<bob@xyz.com>\r\n")  // still plaintext before the handshake: ignored
        #expect(driver.takeReplies().isEmpty)
        driver.run(driver.session.tlsEstablished())
        driver.send("MAIL FROM:<a@c.example>\r\n")
        #expect(driver.takeReplies() == ["503 5.5.1 Error: send HELO/EHLO first"])
        driver.send("EHLO c\r\n")
        let ehlo = driver.takeReplies()
        #expect(!ehlo.contains("250-STARTTLS"))
        driver.send("STARTTLS\r\n")
        #expect(driver.takeReplies() == ["503 5.5.1 Error: TLS already active"])
    }

    @Test func protocolNameInMessageStart() {
        var session = ServerSession(configuration: .init(hostname: "mx.test"))
        _ = session.start()
        _ = session.receive(ByteBuffer(string: "HELO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\n"))
        let actions = session.recipientChecked(.ok) + session.receive(ByteBuffer(string: "DATA\r\n"))
        let start = actions.compactMap { if case .beginMessage(let s) = $0 { return s } else { return nil } }.first
        #expect(start?.protocolName == "SMTP")
        #expect(start?.heloName == "c")
    }
}
