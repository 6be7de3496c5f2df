import Foundation
import MailAuth
import Testing
import TestSupport

/// What the streaming signer decides from a message's header, and that it plans exactly.
@Suite struct MessageSignerTests {
    static let ed = try! DKIMKey(ed25519Seed: Array(repeating: 1, count: 32))

    static func signer() -> MessageSigner {
        MessageSigner { domain in domain == "example.com" ? [DKIMSigner(domain: domain, selector: "s", key: ed)] : [] }
    }

    static func outcome(_ message: String, chunk: Int = .max) -> Result<[UInt8], MessageSigner.Skip> {
        var s = signer()
        var rest = Array(message.utf8)[...]
        while !rest.isEmpty {
            s.update(rest.prefix(chunk))
            rest = rest.dropFirst(chunk)
        }
        return s.finish(time: 1_800_000_000)
    }

    @Test(arguments: [
        ("Subject: no from\r\n\r\nbody\r\n", MessageSigner.Skip.noFrom),
        ("From: a@example.com, b@example.org\r\n\r\nbody\r\n", .unclearFrom),
        ("From: undisclosed-recipients:;\r\n\r\nbody\r\n", .unclearFrom),
        ("From: a@example.net\r\n\r\nbody\r\n", .noKey(domain: "example.net")),
        ("DKIM-Signature: v=1; d=example.com; s=s; b=x\r\nFrom: a@example.com\r\n\r\nbody\r\n", .alreadySigned),
    ])
    func messagesThatAreNotSignedSayWhy(_ message: String, _ skip: MessageSigner.Skip) {
        #expect(Self.outcome(message) == .failure(skip))
        #expect(Self.outcome(message, chunk: 3) == .failure(skip))
    }

    @Test func aHeaderSectionTooLargeIsNotSigned() {
        let huge = "From: a@example.com\r\n" + String(repeating: "X-Filler: " + String(repeating: "y", count: 70) + "\r\n", count: 4000) + "\r\nbody\r\n"
        #expect(Self.outcome(huge, chunk: 65536) == .failure(.headerTooLarge))
    }

    @Test func theFromDomainIsFoundBehindNamesCommentsAndQuotes() {
        for from in ["\"Doe, Jane\" <jane@Example.COM>", "jane@example.com (Jane <x@evil.example>)", "Jane <jane@example.com>"] {
            guard case .success(let fields) = Self.outcome("From: \(from)\r\n\r\nbody\r\n") else {
                Issue.record("not signed: \(from)")
                continue
            }
            #expect(String(decoding: fields, as: UTF8.self).contains("d=example.com; s=s;"))
        }
    }

    @Test func thePlannedLengthIsTheLengthMadeForDKIMAndARC() async throws {
        let rsa = try await blocking { try DKIMKey.generate(.rsaSHA256) }
        let message = Array("From: a@example.com\r\nSubject: plan\r\n\r\nbody\r\n".utf8)
        var dual = MessageSigner { [DKIMSigner(domain: $0, selector: "r", key: rsa, expiry: 3600), DKIMSigner(domain: $0, selector: "e", key: Self.ed)] }
        var arc = MessageSigner(.arc(ARCSealer(signer: DKIMSigner(domain: "fwd.example", selector: "a", key: rsa), authservID: "mx.fwd.example"), results: "arc=none"))
        for signer in [dual, arc] { #expect(signer.plannedLength(time: 1) == nil, "nothing is known before the header") }
        dual.update(message)
        arc.update(message)
        let dualPlan = dual.plannedLength(time: 1_800_000_000)
        let arcPlan = arc.plannedLength(time: 1_800_000_000)
        #expect(try dual.finish(time: 1_800_000_000).get().count == dualPlan)
        #expect(try arc.finish(time: 1_800_000_000).get().count == arcPlan)
        // ARC fields that do not form a chain are not sealed over.
        var sealed = MessageSigner(.arc(ARCSealer(signer: DKIMSigner(domain: "fwd.example", selector: "a", key: rsa), authservID: "mx"), results: "arc=none"))
        sealed.update(Array("ARC-Seal: i=1; cv=none\r\n".utf8) + message)
        #expect(sealed.plannedLength(time: 1) == nil)
        #expect(sealed.finish(time: 1) == .failure(.arcChainFailed))
    }
}
