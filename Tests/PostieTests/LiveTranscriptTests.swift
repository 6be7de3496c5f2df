import Foundation
import TestSupport
import Testing

/// The same transcripts as the session tests, against the real server over TCP.
@Suite struct LiveTranscriptTests {
    @Test(arguments: Transcript.names)
    func transcript(name: String) async throws {
        let transcript = try Transcript.named(name)
        try await withServer { server in
            let problems = try await blocking { try server.client().run(transcript) }
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    @Test func pipelinedMessagesArriveIntact() async throws {
        try await withServer { server in
            let problems = try await blocking { try server.client().run(Transcript.named("pipelining.smtp")) }
            #expect(problems.isEmpty)
            let carolyn = await server.messages("carolyn")
            #expect(carolyn.count == 1)
            #expect(body(carolyn.first ?? "") == "Subject: pipelined\n\n.leading dot\n")
            let bob = await server.messages("bob")
            // Deliveries run concurrently: compare without order.
            #expect(bob.map(body).sorted() == ["Subject: b\n\nb\n", "Subject: pipelined\n\n.leading dot\n"])
            #expect(bob.first { $0.contains("Subject: b\n") }?.hasPrefix("Return-Path: <>\n") == true)
        }
    }

    @Test func smuggledMessageIsNeverDelivered() async throws {
        try await withServer { server in
            let problems = try await blocking { try server.client().run(Transcript.named("smuggling.smtp")) }
            #expect(problems.isEmpty)
            #expect(await server.messages("carolyn").isEmpty)
            #expect(await server.messages("bob").isEmpty)
            #expect(server.spooled.isEmpty)
        }
    }
}
