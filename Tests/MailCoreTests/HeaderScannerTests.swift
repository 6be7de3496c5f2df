import MailCore
import NIOCore
import Testing

@Suite struct HeaderScannerTests {
    func scan(_ text: String, chunk: Int) -> HeaderScanner {
        var scanner = HeaderScanner()
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            scanner.scan(ByteBuffer(bytes: bytes[i..<min(bytes.count, i + chunk)]))
            i += chunk
        }
        return scanner
    }

    @Test(arguments: [1, 3, 1000])
    func countsReceivedFieldsInTheHeaderOnly(chunk: Int) {
        let message = "Received: from a\r\n\tby b; date\r\nRECEIVED: x\r\nreceived:y\r\nX-Received: no\r\nSubject: hi\r\n"
            + "Date: Sun, 29 Nov 2026 21:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nReceived: in the body\r\n"
        let s = scan(message, chunk: chunk)
        #expect(s.receivedCount == 3)
        #expect(s.hasDate)
        #expect(s.hasMessageID)
        #expect(!s.hasFrom)
        #expect(s.headerEnded)
    }

    @Test func noHeaderAtAll() {
        let s = scan("\r\nReceived: body\r\n", chunk: 100)
        #expect(s.receivedCount == 0)
        #expect(s.headerEnded)
    }

    @Test func manyHops() {
        let s = scan(String(repeating: "Received: hop\r\n", count: 150) + "\r\n", chunk: 7)
        #expect(s.receivedCount == 150)
    }
}

@Suite struct TraceHeaderTests {
    @Test func receivedField() {
        let hop = TraceHeaders.Hop(
            heloName: "abcd.com", clientAddress: "192.0.2.1", byHostname: "mx.xyz.com", protocolName: "ESMTP", queueID: "ABC123",
            singleRecipient: "carolyn@xyz.com", unixTime: 1_796_000_000)
        #expect(
            TraceHeaders.received(hop)
                == "Received: from abcd.com ([192.0.2.1])\r\n\tby mx.xyz.com (Postie) with ESMTP id ABC123\r\n\tfor <carolyn@xyz.com>;\r\n\tMon, 30 Nov 2026 00:53:20 +0000\r\n"
        )
    }

    @Test func clientValuesCannotBreakTheField() {
        let hop = TraceHeaders.Hop(
            heloName: "evil\r\nBcc: x@y (z);", clientAddress: "2001:db8::1", byHostname: "mx", protocolName: "SMTP", queueID: "Q",
            singleRecipient: nil, unixTime: 0)
        let field = TraceHeaders.received(hop)
        #expect(field.hasPrefix("Received: from evilBcc: x@y z ([IPv6:2001:db8::1])\r\n"))
        #expect(!field.contains("for <"))
        #expect(field.hasSuffix("Thu, 1 Jan 1970 00:00:00 +0000\r\n"))
    }

    @Test func returnPath() {
        #expect(TraceHeaders.returnPath(.null) == "Return-Path: <>\r\n")
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (951_782_400, "2000-02-29T00:00:00Z"), (1_796_000_000, "2026-11-30T00:53:20Z"),
        (-1, "1969-12-31T23:59:59Z"),
    ])
    func dates(time: Int64, iso: String) {
        #expect(MessageDate.iso8601(unixTime: time) == iso)
    }
}

@Suite struct HeaderFromTests {
    @Test(arguments: [1, 2, 7, 1000])
    func fromValuesAreKeptUnfoldedWhateverTheChunks(chunk: Int) {
        let message = "Subject: x\r\nFROM: Alice\r\n <alice@xyz.com>\r\nTo: b@c\r\nfrom:bob@abcd.com\r\n\r\nFrom: not a header\r\n"
        let scanner = HeaderScannerTests().scan(message, chunk: chunk)
        #expect(scanner.fromValues == [" Alice <alice@xyz.com>", "bob@abcd.com"])
        #expect(!scanner.fromTooLong)
        #expect(scanner.hasFrom)
    }

    @Test func aHugeFromIsCutAndSaysSo() {
        var scanner = HeaderScanner()
        scanner.scan(ByteBuffer(string: "From: " + String(repeating: "a", count: 10_000) + "@x.org\r\n\r\n"))
        #expect(scanner.fromTooLong)
        #expect(scanner.fromValues.first?.utf8.count == HeaderScanner.fromLimit)
    }
}
