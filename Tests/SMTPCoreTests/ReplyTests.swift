import SMTPCore
import Testing

@Suite struct ReplyTests {
    @Test func singleLine() {
        #expect(Reply(250, .init(2, 1, 0), "Ok").wireText == "250 2.1.0 Ok\r\n")
        #expect(Reply(220, nil, "mx ESMTP Postie").wireText == "220 mx ESMTP Postie\r\n")
    }

    @Test func multiLine() {
        let reply = Reply(250, nil, lines: ["mx", "PIPELINING", "SIZE 100"])
        #expect(reply.wireText == "250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n")
        let enhanced = Reply(214, .init(2, 0, 0), lines: ["a", "b"])
        #expect(enhanced.wireText == "214-2.0.0 a\r\n214 2.0.0 b\r\n")
    }

    @Test func lineBreaksInTextCannotSplitTheReply() {
        #expect(Reply(550, .init(5, 1, 1), "bad\r\n250 Ok").wireText == "550 5.1.1 bad  250 Ok\r\n")
    }

    @Test func classes() {
        #expect(Reply(250, nil, "x").isPositive)
        #expect(Reply(354, nil, "x").isPositive)
        #expect(Reply(451, nil, "x").isTransient)
        #expect(Reply(554, nil, "x").isPermanent)
        #expect(EnhancedStatusCode("5.1.1") == EnhancedStatusCode(5, 1, 1))
        #expect(EnhancedStatusCode("3.1.1") == nil)
        #expect(EnhancedStatusCode("5.1") == nil)
    }
}
