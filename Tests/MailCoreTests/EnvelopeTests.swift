import MailCore
import SMTPCore
import Testing

@Suite struct EnvelopeTests {
    let envelope = Envelope(
        id: "18C0FFEE00001", arrivalTime: 1_796_000_000, size: 1234,
        sender: .mailbox(Mailbox(localPart: "elinor", domain: "abcd.com")), clientAddress: "192.0.2.1", heloName: "abcd.com",
        protocolName: "ESMTP", body: .eightBitMIME, smtpUTF8: true,
        recipients: [
            EnvelopeRecipient(target: .mailbox(domain: "xyz.com", user: "carolyn"), original: "<carolyn+tag@xyz.com>"),
            EnvelopeRecipient(
                target: .remote(Mailbox(localPart: "john doe", domain: "elsewhere.example")), original: "<info@xyz.com>",
                status: .deferred, attempts: 2, lastError: "451 4.3.0 try\tlater", notify: "FAILURE"),
        ], nextAttempt: 1_796_000_600)

    @Test func roundTrips() throws {
        let text = envelope.encoded()
        #expect(text.hasPrefix("Postie-Envelope: 1\nId: 18C0FFEE00001\nArrival: 1796000000 2026-11-30T00:53:20Z\n"))
        var expected = envelope
        expected.recipients[1].lastError = "451 4.3.0 try later"  // tabs cannot survive in a field
        #expect(try Envelope(decoding: text) == expected)
    }

    @Test func nullSenderRoundTrips() throws {
        var e = envelope
        e.sender = .null
        #expect(try Envelope(decoding: e.encoded()).sender == .null)
    }

    @Test(arguments: [
        "", "garbage", "Postie-Envelope: 1\nId: X\n",
        "Postie-Envelope: 1\nId: X\nArrival: 1\nSize: 1\nSender: <>\nClient: c\nHelo: h\nProtocol: SMTP\nRecipient: mailbox:../../etc@x\tpending\n",
        "Postie-Envelope: 1\nId: X\nArrival: 1\nSize: 1\nSender: <>\nClient: c\nHelo: h\nProtocol: SMTP\nRecipient: mailbox:a@x\tbogus\n",
        "Postie-Envelope: 1\nId: X\nArrival: soon\nSize: 1\nSender: <>\nClient: c\nHelo: h\nProtocol: SMTP\nRecipient: mailbox:a@x\tpending\n",
    ])
    func rejectsDamagedRecords(text: String) {
        #expect(throws: Envelope.DecodingError.self) { try Envelope(decoding: text) }
    }

    @Test func finished() {
        var e = envelope
        #expect(!e.isFinished)
        e.recipients[0].status = .delivered
        e.recipients[1].status = .failed
        #expect(e.isFinished)
    }
}
