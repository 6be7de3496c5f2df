import NIOCore
import SMTPCore
import Testing

/// The client session in its LMTP dialect (RFC 2033): LHLO, and one reply per accepted
/// recipient after the data, each recipient's outcome its own.
@Suite struct LMTPClientSessionTests {
    typealias Driver = ClientSessionTests.Driver

    static func driver(_ messages: [OutgoingMessage]) -> Driver {
        var d = Driver(messages)
        d.session = ClientSession(heloName: "mx.a.example", messages: messages, dialect: .lmtp)
        return d
    }

    @Test func oneReplyPerRecipientAfterTheData() {
        var d = Self.driver([ClientSessionTests.message(["bob", "nobody", "full", "carol"]), ClientSessionTests.message(["bob"])])
        #expect(d.reply("220 lmtp ready\n") == ["LHLO mx.a.example"])
        #expect(
            d.reply("250-lmtp\n250-PIPELINING\n250 8BITMIME\n") == [
                "MAIL FROM:<alice@a.example>", "RCPT TO:<bob@b.example>", "RCPT TO:<nobody@b.example>", "RCPT TO:<full@b.example>",
                "RCPT TO:<carol@b.example>", "DATA",
            ])
        #expect(d.reply("250 ok\n250 ok\n550 5.1.1 no such user\n250 ok\n250 ok\n") == [])
        #expect(d.reply("354 go\n") == ["<message 0>"])
        // bob, full and carol were accepted: three replies, in that order.
        #expect(d.reply("250 2.0.0 bob saved\n") == [])
        #expect(d.reply("452 4.2.2 mailbox full\n") == [])
        #expect(d.reply("250 2.0.0 carol saved\n").first == "MAIL FROM:<alice@a.example>")
        #expect(d.codes[0] == [250, 550, 452, 250])
        if case .deferred = d.finished[0]?[2] {} else { Issue.record("a 4xx for one recipient defers that one only") }
    }

    @Test func noFallBackToHELO() {
        var d = Self.driver([ClientSessionTests.message(["bob"])])
        _ = d.reply("220 lmtp\n")
        _ = d.reply("500 5.5.1 what\n")
        #expect(d.actions.contains { if case .notPrepared = $0 { true } else { false } })
    }

    @Test func aConnectionLostBetweenRepliesDefersOnlyTheUnanswered() {
        var d = Self.driver([ClientSessionTests.message(["bob", "carol"])])
        _ = d.reply("220 lmtp\n")
        _ = d.reply("250-lmtp\n250 PIPELINING\n")
        _ = d.reply("250 ok\n250 ok\n250 ok\n354 go\n250 2.0.0 bob saved\n")
        for a in d.session.connectionLost("connection reset") { d.actions.append(a) }
        #expect(d.codes[0] == [250, 451])
    }
}
