import MailCore
import Testing

@Suite struct HeaderTextTests {
    @Test func singleLineTurnsControlCharactersIntoSpaces() {
        #expect(HeaderText.singleLine("a\r\nb\tc\u{0}d\u{7F}e") == "a  b c d e")
        #expect(HeaderText.singleLine("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓")
        #expect(HeaderText.singleLine("") == "")
    }

    @Test func receivedFieldKeepsClientTextOnItsLineAndOutOfItsComments() {
        let hop = TraceHeaders.Hop(
            heloName: "evil\r\nX-Injected: yes (x); y", clientAddress: "192.0.2.1", byHostname: "mx.test",
            protocolName: "ESMTP", tls: nil, queueID: "ID1", singleRecipient: "bob@x.test", unixTime: 0)
        let field = TraceHeaders.received(hop)
        #expect(field.hasPrefix("Received: from evilX-Injected: yes x y ([192.0.2.1])\r\n\tby mx.test (Postie) with ESMTP id ID1\r\n"))
        let plain = TraceHeaders.received(
            .init(
                heloName: "client.test", clientAddress: "2001:db8::1", byHostname: "mx.test", protocolName: "ESMTPS",
                tls: "version=TLSv1.3", queueID: "ID2", singleRecipient: nil, unixTime: 0))
        #expect(plain.hasPrefix("Received: from client.test ([IPv6:2001:db8::1])\r\n\tby mx.test (Postie) with ESMTPS (version=TLSv1.3) id ID2;\r\n"))
    }
}
