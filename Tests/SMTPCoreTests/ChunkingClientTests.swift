import NIOCore
import SMTPCore
import Testing

/// The client with a peer that offers CHUNKING (RFC 3030): a message goes as one `BDAT … LAST`
/// once its recipients are known, without dot-stuffing; over SMTP and LMTP alike.
@Suite struct ChunkingClientTests {
    typealias Driver = ClientSessionTests.Driver

    @Test func pipelinedRecipientsThenOneBDAT() {
        var d = Driver([ClientSessionTests.message(["bob", "nobody"]), ClientSessionTests.message(["carol"])])
        _ = d.reply("220 mx.b.example ESMTP\n")
        #expect(
            d.reply("250-mx.b.example\n250-PIPELINING\n250 CHUNKING\n") == [
                "MAIL FROM:<alice@a.example>", "RCPT TO:<bob@b.example>", "RCPT TO:<nobody@b.example>",
            ], "no DATA: BDAT waits for the recipients' replies")
        #expect(d.reply("250 2.1.0 ok\n250 2.1.5 ok\n") == [])
        #expect(d.reply("550 5.1.1 no such user\n") == ["<BDAT message 0>"])
        #expect(d.reply("250 2.0.0 queued\n") == ["MAIL FROM:<alice@a.example>", "RCPT TO:<carol@b.example>"])
        #expect(d.codes[0] == [250, 550])
        #expect(d.reply("250 ok\n250 ok\n") == ["<BDAT message 1>"])
        #expect(d.reply("250 2.0.0 queued\n") == ["QUIT"])
        #expect(d.codes[1] == [250])
    }

    @Test func withoutPipeliningTooBDATFollowsTheLastRecipient() {
        var d = Driver([ClientSessionTests.message(["bob"])])
        _ = d.reply("220 mx.b.example ESMTP\n")
        #expect(d.reply("250-mx.b.example\n250 CHUNKING\n") == ["MAIL FROM:<alice@a.example>"])
        #expect(d.reply("250 ok\n") == ["RCPT TO:<bob@b.example>"])
        #expect(d.reply("250 ok\n") == ["<BDAT message 0>"])
        #expect(d.reply("554 5.7.1 refused\n") == ["QUIT"])
        #expect(d.codes[0] == [554])
    }

    /// No recipient accepted: no BDAT at all, and the next transaction starts with RSET.
    @Test func noRecipientNoBDAT() {
        var d = Driver([ClientSessionTests.message(["nobody"]), ClientSessionTests.message(["bob"])])
        _ = d.reply("220 mx.b.example ESMTP\n")
        _ = d.reply("250-mx.b.example\n250-PIPELINING\n250 CHUNKING\n")
        #expect(d.reply("250 ok\n550 5.1.1 no such user\n") == ["RSET", "MAIL FROM:<alice@a.example>", "RCPT TO:<bob@b.example>"])
        #expect(d.codes[0] == [550])
        #expect(!d.actions.contains(.sendChunkedMessage(index: 0)))
    }

    /// A refused MAIL with pipelined recipients: their replies are read, then the message fails.
    @Test func aRefusedMailSendsNoBDAT() {
        var d = Driver([ClientSessionTests.message(["bob"])])
        _ = d.reply("220 mx.b.example ESMTP\n")
        _ = d.reply("250-mx.b.example\n250-PIPELINING\n250 CHUNKING\n")
        #expect(d.reply("553 5.7.1 sender refused\n503 5.5.1 no MAIL\n") == ["QUIT"])
        #expect(d.codes[0] == [553])
    }

    /// Past the limit the client would have to hold, DATA as before.
    @Test func aLargeMessageGoesByDATA() {
        var d = Driver([ClientSessionTests.message(["bob"], size: ClientSession.chunkingLimit + 1)])
        _ = d.reply("220 mx.b.example ESMTP\n")
        #expect(d.reply("250-mx.b.example\n250-PIPELINING\n250 CHUNKING\n").last == "DATA")
        #expect(d.reply("250 ok\n250 ok\n354 go\n") == ["<message 0>"])
    }

    /// LMTP: after the BDAT, one reply per accepted recipient.
    @Test func lmtpRepliesPerRecipientAfterBDAT() {
        var d = LMTPClientSessionTests.driver([ClientSessionTests.message(["bob", "nobody", "full"])])
        _ = d.reply("220 lmtp\n")
        _ = d.reply("250-lmtp\n250-PIPELINING\n250 CHUNKING\n")
        #expect(d.reply("250 ok\n250 ok\n550 5.1.1 unknown\n250 ok\n") == ["<BDAT message 0>"])
        #expect(d.reply("250 2.0.0 bob saved\n") == [])
        #expect(d.reply("452 4.2.2 mailbox full\n") == ["QUIT"])
        #expect(d.codes[0] == [250, 550, 452])
    }

    /// For BDAT the encoder makes line endings canonical and leaves dots alone.
    @Test func theEncoderWithoutDotStuffing() {
        var encoder = DataEncoder(dotStuffing: false)
        var out = ByteBuffer()
        encoder.encode(ByteBuffer(string: "a\n.b\r\n..c\rd"), into: &out)
        encoder.finish(into: &out)
        #expect(String(buffer: out) == "a\r\n.b\r\n..c\r\nd\r\n")
    }
}
