import SMTPCore
import Testing

@Suite struct SessionTranscriptTests {
    @Test func theDialogueIsKeptWithoutSecrets() {
        var t = SessionTranscript()
        t.note("connected to [IPv4]127.0.0.1:25", at: 0)
        t.server(Reply(220, nil, "mx.example.org ESMTP"), at: 3)
        t.client("EHLO mx.test", at: 3)
        t.server(Reply(250, nil, lines: ["mx.example.org", "AUTH PLAIN LOGIN", "8BITMIME"]), at: 4)
        t.client("AUTH PLAIN AGFsaWNlAHNlY3JldA==", at: 5)
        t.server(Reply(235, .init(2, 7, 0), "Authentication successful"), at: 9)
        t.client("AUTH LOGIN", at: 10)
        t.server(Reply(334, nil, "VXNlcm5hbWU6"), at: 11)
        t.client("YWxpY2U=", at: 11)
        t.server(Reply(334, nil, "UGFzc3dvcmQ6"), at: 12)
        t.client("c2VjcmV0", at: 12)
        t.server(Reply(235, .init(2, 7, 0), "ok"), at: 13)
        t.client("MAIL FROM:<a@mx.test>", at: 14)
        let text = t.rendered.joined(separator: "\n")
        #expect(t.rendered[0] == "+0ms * connected to [IPv4]127.0.0.1:25")
        #expect(t.rendered.contains("+4ms S: 250-mx.example.org"))
        #expect(t.rendered.contains("+4ms S: 250 8BITMIME"))
        #expect(t.rendered.contains("+5ms C: AUTH PLAIN [elided]"))
        #expect(t.rendered.contains("+9ms S: 235 2.7.0 Authentication successful"))
        #expect(t.rendered.contains("+11ms C: [AUTH response elided]"))
        #expect(t.rendered.contains("+14ms C: MAIL FROM:<a@mx.test>"), "after AUTH, commands are kept again")
        for secret in ["AGFsaWNlAHNlY3JldA==", "YWxpY2U=", "c2VjcmV0", "VXNlcm5hbWU6", "UGFzc3dvcmQ6"] {
            #expect(!text.contains(secret), "\(secret) was kept")
        }
    }

    @Test func itIsBounded() {
        var t = SessionTranscript()
        for i in 0..<(SessionTranscript.maxLines + 50) { t.client("RCPT TO:<user\(i)@example.org>", at: i) }
        #expect(t.lines.count == SessionTranscript.maxLines)
        #expect(t.leftOut == 50)
        #expect(t.rendered.last == "[50 more lines left out]")
        var long = SessionTranscript()
        for i in 0..<100 { long.server(Reply(250, nil, String(repeating: "x", count: 900)), at: i) }
        #expect(long.rendered.joined().utf8.count <= SessionTranscript.maxOctets + 100)
        #expect(long.leftOut > 0)
    }
}
