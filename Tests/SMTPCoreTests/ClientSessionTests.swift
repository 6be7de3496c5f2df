import NIOCore
import SMTPCore
import Testing

@Suite struct ClientSessionTests {
    static let alice = Mailbox(localPart: "alice", domain: "a.example")
    static func rcpt(_ local: String) -> OutgoingRecipient { OutgoingRecipient(Mailbox(localPart: local, domain: "b.example")) }
    static func message(_ recipients: [String], size: Int = 100, eightBit: Bool = false) -> OutgoingMessage {
        OutgoingMessage(reversePath: .mailbox(alice), recipients: recipients.map(rcpt), size: size, eightBit: eightBit)
    }

    /// Feeds replies written as wire text and collects the actions.
    struct Driver {
        var session: ClientSession
        var parser = ReplyParser()
        var actions: [ClientAction] = []

        init(_ messages: [OutgoingMessage], startTLS: Bool = false) {
            session = ClientSession(heloName: "mx.a.example", messages: messages, useStartTLS: startTLS)
        }

        /// Replies, and the commands the session sent in answer.
        mutating func reply(_ text: String) -> [String] {
            let replies = try! parser.parse(ByteBuffer(string: text.replacingOccurrences(of: "\n", with: "\r\n")))
            var sent: [String] = []
            for r in replies {
                for a in session.receive(r) {
                    actions.append(a)
                    if case .send(let line) = a { sent.append(line) }
                    if case .sendMessage(let i) = a { sent.append("<message \(i)>") }
                    if case .sendChunkedMessage(let i) = a { sent.append("<BDAT message \(i)>") }
                }
            }
            return sent
        }

        var finished: [Int: [RecipientOutcome]] {
            var r: [Int: [RecipientOutcome]] = [:]
            for case .messageFinished(let i, let o) in actions { r[i] = o }
            return r
        }

        var codes: [Int: [Int]] { finished.mapValues { $0.map(\.reply.code) } }
    }

    @Test func plainDialogueWithoutPipelining() {
        var d = Driver([Self.message(["bob", "nobody"])])
        #expect(d.reply("220 mx.b.example ESMTP\n") == ["EHLO mx.a.example"])
        #expect(d.reply("250-mx.b.example\n250 8BITMIME\n") == ["MAIL FROM:<alice@a.example>"])
        #expect(d.reply("250 2.1.0 Ok\n") == ["RCPT TO:<bob@b.example>"])
        #expect(d.reply("250 2.1.5 Ok\n") == ["RCPT TO:<nobody@b.example>"])
        #expect(d.reply("550 5.1.1 no such user\n") == ["DATA"])
        #expect(d.reply("354 go ahead\n") == ["<message 0>"])
        #expect(d.reply("250 2.0.0 queued\n") == ["QUIT"])
        #expect(d.finished[0] == [
            .delivered(Reply(250, .init(2, 0, 0), "queued")), .failed(Reply(550, .init(5, 1, 1), "no such user")),
        ])
        _ = d.reply("221 bye\n")
        #expect(d.actions.last == .close)
        #expect(d.session.finished)
    }

    @Test func pipeliningSendsTheEnvelopeTogether() {
        var d = Driver([Self.message(["bob", "carol"], size: 1234)])
        _ = d.reply("220 hi\n")
        #expect(
            d.reply("250-mx\n250-PIPELINING\n250-SIZE 10000\n250 8BITMIME\n")
                == ["MAIL FROM:<alice@a.example> SIZE=1234", "RCPT TO:<bob@b.example>", "RCPT TO:<carol@b.example>", "DATA"])
        #expect(d.reply("250 ok\n250 ok\n451 4.2.0 later\n354 go\n") == ["<message 0>"])
        #expect(d.reply("250 ok\n") == ["QUIT"])
        #expect(d.codes[0] == [250, 451])
        if case .deferred = d.finished[0]![1] {} else { Issue.record("451 must defer") }
    }

    @Test func ehloRefusedFallsBackToHelo() {
        var d = Driver([Self.message(["bob"])])
        _ = d.reply("220 old server\n")
        #expect(d.reply("500 5.5.1 what?\n") == ["HELO mx.a.example"])
        #expect(d.reply("250 hello\n") == ["MAIL FROM:<alice@a.example>"])
        #expect(!d.session.usedEHLO)
        _ = d.reply("250 ok\n")
        #expect(d.reply("250 ok\n") == ["DATA"])
    }

    @Test func notPreparedGreetings() {
        var busy = Driver([Self.message(["bob"])])
        #expect(busy.reply("421 4.3.2 too busy\n").isEmpty)
        #expect(busy.actions == [.notPrepared(Reply(421, .init(4, 3, 2), "too busy")), .close])
        var no = Driver([Self.message(["bob"])])
        #expect(no.reply("554 5.7.1 no mail here\n") == ["QUIT"])
        #expect(no.actions.first == .notPrepared(Reply(554, .init(5, 7, 1), "no mail here")))
        #expect(no.finished.isEmpty)
    }

    @Test func rejectionAfterDataFailsTheAcceptedRecipients() {
        var d = Driver([Self.message(["bob"])])
        _ = d.reply("220 hi\n")
        _ = d.reply("250 mx\n")
        _ = d.reply("250 ok\n")
        _ = d.reply("250 ok\n")
        _ = d.reply("354 go\n")
        #expect(d.reply("554 5.7.1 spam\n") == ["QUIT"])
        #expect(d.codes[0] == [554])
    }

    @Test func peerLimitsAreCheckedBeforeSending() {
        var d = Driver([Self.message(["bob"], size: 5000), Self.message(["carol"], eightBit: true), Self.message(["dave"])])
        _ = d.reply("220 hi\n")
        #expect(d.reply("250-mx\n250 SIZE 1000\n") == ["MAIL FROM:<alice@a.example> SIZE=100"])
        #expect(d.codes[0] == [552])
        #expect(d.finished[0]?.first?.reply.enhancedCode == EnhancedStatusCode(5, 3, 4))
        #expect(d.codes[1] == [554])
        #expect(d.finished[1]?.first?.reply.enhancedCode == EnhancedStatusCode(5, 6, 3))
    }

    @Test func severalMessagesOnOneConnectionWithResetAfterAFailure() {
        var d = Driver([Self.message(["bob"]), Self.message(["carol"])])
        _ = d.reply("220 hi\n")
        _ = d.reply("250 mx\n")
        #expect(d.reply("451 4.3.0 try later\n") == ["RSET", "MAIL FROM:<alice@a.example>"])
        #expect(d.codes[0] == [451])
        _ = d.reply("250 ok\n")  // RSET
        #expect(d.reply("250 ok\n") == ["RCPT TO:<carol@b.example>"])
        _ = d.reply("250 ok\n")
        _ = d.reply("354 go\n")
        #expect(d.reply("250 ok\n") == ["QUIT"])
        #expect(d.codes[1] == [250])
    }

    @Test func pipelinedRefusedMailStillReadsEveryReply() {
        var d = Driver([Self.message(["bob"]), Self.message(["carol"])])
        _ = d.reply("220 hi\n")
        _ = d.reply("250-mx\n250 PIPELINING\n")
        #expect(d.reply("553 5.1.8 bad sender\n").isEmpty)
        #expect(d.reply("503 5.5.1 need MAIL\n").isEmpty)
        let next = d.reply("503 5.5.1 no recipients\n")
        #expect(next == ["RSET", "MAIL FROM:<alice@a.example>", "RCPT TO:<carol@b.example>", "DATA"])
        #expect(d.codes[0] == [553])
    }

    @Test func closing421DefersEverythingLeft() {
        var d = Driver([Self.message(["bob", "carol"]), Self.message(["dave"])])
        _ = d.reply("220 hi\n")
        _ = d.reply("250 mx\n")
        _ = d.reply("250 ok\n")
        _ = d.reply("550 no\n")
        #expect(d.reply("421 4.3.2 shutting down\n").isEmpty)
        #expect(d.codes == [0: [550, 421], 1: [421]])
        #expect(d.actions.last == .close)
    }

    @Test func lostConnectionDefersTheMessageInFlight() {
        var d = Driver([Self.message(["bob"])])
        _ = d.reply("220 hi\n")
        _ = d.reply("250 mx\n")
        _ = d.reply("250 ok\n")
        _ = d.reply("250 ok\n")
        _ = d.reply("354 go\n")
        d.actions += d.session.connectionLost("connection reset while sending the message")
        if case .deferred(let r) = d.finished[0]?.first { #expect(r.code == 451) } else { Issue.record("not deferred") }
    }

    @Test func lostConnectionBeforeAnyMessageIsNotPrepared() {
        var d = Driver([Self.message(["bob"])])
        #expect(d.session.connectionLost("timeout waiting for the greeting") == [.notPrepared(Reply(451, .init(4, 4, 2), "timeout waiting for the greeting")), .close])
    }

    @Test func dsnAndUTF8ParametersWhenOffered() {
        var m = OutgoingMessage(
            reversePath: .mailbox(Mailbox(localPart: "pelé", domain: "a.example")),
            recipients: [OutgoingRecipient(Mailbox(localPart: "bob", domain: "b.example"), notify: "SUCCESS,FAILURE", originalRecipient: "rfc822;bob@b.example")],
            size: 10, eightBit: true, needsSMTPUTF8: true, ret: "HDRS", envelopeID: "QQ314159")
        var d = Driver([m])
        _ = d.reply("220 hi\n")
        #expect(
            d.reply("250-mx\n250-PIPELINING\n250-DSN\n250-8BITMIME\n250 SMTPUTF8\n") == [
                "MAIL FROM:<pelé@a.example> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159",
                "RCPT TO:<bob@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@b.example", "DATA",
            ])
        m.needsSMTPUTF8 = true
        var plain = Driver([m])
        _ = plain.reply("220 hi\n")
        #expect(plain.reply("250-mx\n250 8BITMIME\n") == ["QUIT"])
        #expect(plain.finished[0]?.first?.reply.enhancedCode == EnhancedStatusCode(5, 6, 7))
    }

    @Test func authPlainAndLoginOnlyOverTLS() {
        let credentials = ClientCredentials(user: "relay", password: "s3cret")
        var plain = ClientSession(heloName: "mx", messages: [Self.message(["bob"])], credentials: credentials)
        #expect(plain.requireTLS)
        _ = plain.receive(Reply(220, nil, "hi"))
        // No STARTTLS offered: credentials are never sent in the clear.
        #expect(plain.receive(Reply(250, nil, lines: ["mx", "AUTH PLAIN"])) == [.notPrepared(Reply(451, .init(4, 7, 0), "TLS is required for this destination and the server does not offer it")), .send("QUIT"), .close])

        var d = Driver([Self.message(["bob"])])
        d.session = ClientSession(heloName: "mx", messages: [Self.message(["bob"])], credentials: credentials)
        _ = d.reply("220 hi\n")
        #expect(d.reply("250-mx\n250 STARTTLS\n") == ["STARTTLS"])
        _ = d.reply("220 go\n")
        _ = d.session.tlsEstablished()
        #expect(d.reply("250-mx\n250 AUTH LOGIN PLAIN\n") == ["AUTH PLAIN AHJlbGF5AHMzY3JldA=="])
        #expect(d.reply("235 2.7.0 ok\n") == ["MAIL FROM:<alice@a.example>"])

        var login = Driver([Self.message(["bob"])])
        login.session = ClientSession(heloName: "mx", messages: [Self.message(["bob"])], credentials: credentials)
        _ = login.reply("220 hi\n")
        _ = login.reply("250-mx\n250 STARTTLS\n")
        _ = login.reply("220 go\n")
        _ = login.session.tlsEstablished()
        #expect(login.reply("250-mx\n250 AUTH LOGIN\n") == ["AUTH LOGIN"])
        #expect(login.reply("334 VXNlcm5hbWU6\n") == ["cmVsYXk="])
        #expect(login.reply("334 UGFzc3dvcmQ6\n") == ["czNjcmV0"])
        #expect(login.reply("535 5.7.8 no\n") == ["QUIT"])
        #expect(login.actions.contains { if case .notPrepared(let r) = $0 { return r.code == 535 } else { return false } })
    }

    @Test func startTLSWhenOfferedThenEHLOAgain() {
        var d = Driver([Self.message(["bob"])], startTLS: true)
        _ = d.reply("220 hi\n")
        #expect(d.reply("250-mx\n250 STARTTLS\n") == ["STARTTLS"])
        _ = d.reply("220 go ahead\n")
        #expect(d.actions.last == .startTLS)
        #expect(d.session.tlsEstablished() == [.send("EHLO mx.a.example")])
        #expect(d.reply("250-mx\n250 8BITMIME\n") == ["MAIL FROM:<alice@a.example>"])
    }
}

@Suite struct ReplyParserTests {
    @Test func multiLineWithEnhancedCodes() throws {
        var p = ReplyParser()
        #expect(try p.parse(ByteBuffer(string: "250-mx.example\r\n250-PIPE")).isEmpty)
        let replies = try p.parse(ByteBuffer(string: "LINING\r\n250 SIZE 100\r\n550 5.1.1 <x@y>: unknown\r\n"))
        #expect(replies == [Reply(250, nil, lines: ["mx.example", "PIPELINING", "SIZE 100"]), Reply(550, .init(5, 1, 1), "<x@y>: unknown")])
        #expect(try p.parse(ByteBuffer(string: "214-2.0.0 a\r\n214 2.0.0 b\r\n")) == [Reply(214, .init(2, 0, 0), lines: ["a", "b"])])
        #expect(try p.parse(ByteBuffer(string: "220\r\n")) == [Reply(220, nil, "")])
    }

    @Test(arguments: ["hello\r\n", "25\r\n", "250x\r\n", "250-a\r\n251 b\r\n", "999 no\r\n"])
    func malformed(text: String) {
        var p = ReplyParser()
        #expect(throws: ReplyParser.ProtocolError.self) { try p.parse(ByteBuffer(string: text)) }
    }
}

@Suite struct DataEncoderTests {
    func encode(_ chunks: [String]) -> String {
        var e = DataEncoder()
        var out = ByteBuffer()
        for c in chunks { e.encode(ByteBuffer(string: c), into: &out) }
        e.finish(into: &out)
        return String(buffer: out)
    }

    @Test func stuffsDotsAtLineStart() {
        #expect(encode([".a\r\n..b\r\nc.d\r\n.\r\n"]) == "..a\r\n...b\r\nc.d\r\n..\r\n.\r\n")
        #expect(encode([".a\r", "\n.", "b\r\n"]) == "..a\r\n..b\r\n.\r\n")
    }

    @Test func canonicalLineEndings() {
        #expect(encode(["a\nb\rc\r\n"]) == "a\r\nb\r\nc\r\n.\r\n")
        #expect(encode(["a\n.\nb"]) == "a\r\n..\r\nb\r\n.\r\n")
        #expect(encode(["no final newline"]) == "no final newline\r\n.\r\n")
        #expect(encode(["ends with cr\r"]) == "ends with cr\r\n.\r\n")
        #expect(encode([]) == ".\r\n")
    }

    /// Whatever the input, what the decoder reads back is the input with canonical endings.
    @Test func roundTripsThroughTheServerDecoder() {
        let message = "Subject: x\r\n\r\n.\r\n..\r\n.hidden\r\nend\r\n"
        let encoded = encode([message])
        var decoder = DataDecoder(maxSize: 1 << 20)
        var input = ByteBuffer(string: encoded)
        var out = ByteBuffer()
        #expect(decoder.decode(&input, into: &out))
        #expect(String(buffer: out) == message)
        #expect(decoder.problem == nil)
    }
}
