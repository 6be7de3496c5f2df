import MailCore
import SMTPCore
import Testing

/// The one recipient policy that SMTP, `postie sendmail` and reports share.
@Suite struct RecipientPolicyTests {
    let directory = LocalDirectory(
        domains: ["xyz.com": .init(users: ["carolyn", "bob"], aliases: ["team": ["carolyn", "bob"], "fwd": ["someone@elsewhere.example"], "loop": ["loop"]])])

    func path(_ address: String) -> ForwardPath { .mailbox(Mailbox.parse(address)!) }

    @Test func decisions() {
        #expect(RecipientPolicy.decide(path("carolyn@xyz.com"), directory: directory, mayRelay: false) == .accept([.mailbox(domain: "xyz.com", user: "carolyn")]))
        #expect(
            RecipientPolicy.decide(path("fwd@xyz.com"), directory: directory, mayRelay: false)
                == .accept([.remote(Mailbox.parse("someone@elsewhere.example")!)]), "an alias forwards even for a stranger")
        #expect(RecipientPolicy.decide(path("nobody@xyz.com"), directory: directory, mayRelay: true) == .refuse(.unknownUser))
        #expect(RecipientPolicy.decide(path("x@other.example"), directory: directory, mayRelay: false) == .refuse(.relayDenied))
        #expect(RecipientPolicy.decide(path("x@other.example"), directory: directory, mayRelay: true) == .accept([.remote(Mailbox.parse("x@other.example")!)]))
        #expect(RecipientPolicy.decide(path("loop@xyz.com"), directory: directory, mayRelay: true) == .refuse(.aliasLoop))
    }

    /// Two addresses that lead to one mailbox give one copy, kept under the first address.
    @Test func oneCopyPerDestination() {
        var recipients: [EnvelopeRecipient] = []
        for address in ["team@xyz.com", "carolyn@xyz.com"] {
            guard case .accept(let d) = RecipientPolicy.decide(path(address), directory: directory, mayRelay: false) else {
                Issue.record("refused \(address)")
                continue
            }
            RecipientPolicy.add(d, original: "<\(address)>", notify: "NEVER", to: &recipients)
        }
        #expect(recipients.map(\.target.description) == ["carolyn@xyz.com", "bob@xyz.com"])
        #expect(recipients.allSatisfy { $0.original == "<team@xyz.com>" && $0.notify == "NEVER" })
    }

    @Test func localMessageTraceAndEnvelope() {
        let received = LocalMessage.received(by: "mx.xyz.com", "from userid ev(il);\r\nX: y", unixTime: 0)
        #expect(received.hasPrefix("Received: by mx.xyz.com (Postie, from userid evilX: y);\r\n\t"))
        #expect(received.hasSuffix("\r\n") && received.split(separator: "\r\n", omittingEmptySubsequences: false).count == 3)
        let e = LocalMessage.envelope(id: "Q", arrival: 1, size: 2, sender: .null, heloName: "h", eightBit: true, recipients: [])
        #expect(e.protocolName == "local" && e.clientAddress == "127.0.0.1" && e.body == .eightBitMIME)
    }
}
