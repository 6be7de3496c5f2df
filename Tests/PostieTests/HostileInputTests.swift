import Foundation
import Storage
import TestSupport
import Testing

/// Bad input gets a clear reply or a close, never a crash, and the server goes on serving others.
@Suite struct HostileInputTests {
    /// After the abuse, an ordinary session still gets through.
    func stillServes(_ server: TestServer) async throws {
        let problems = try await blocking { try server.client().run(Transcript.named("figure1.smtp")) }
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func nulEightBitAndInvalidUTF8InCommands() async throws {
        try await withServer { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                var replies: [String] = []
                for bytes: [UInt8] in [
                    Array("NOOP \0x\r\n".utf8), Array("EHLO caf\u{e9}.example\r\n".utf8), [0x48, 0x45, 0x4C, 0x4F, 0x20, 0xFF, 0xFE, 13, 10],
                    Array("EHLO c\r\n".utf8),
                ] {
                    c.send(bytes)
                    replies.append(c.readReply().last ?? "<none>")
                }
                c.send([0x4D, 0x41, 0x49, 0x4C, 0x20, 0x46, 0x52, 0x4F, 0x4D, 0x3A, 0x3C, 0xC3, 0x28, 0x40, 0x78, 0x2E, 0x79, 0x3E] + Array(" SMTPUTF8\r\n".utf8))
                replies.append(c.readReply().last ?? "<none>")
                return replies
            }
            #expect(replies[0].hasPrefix("500 5.5.2"))
            #expect(replies[1].hasPrefix("500 5.5.2"))
            #expect(replies[2].hasPrefix("500 5.5.2"))
            #expect(replies[3].hasPrefix("250 "))
            #expect(replies[4].hasPrefix("501 5.1.7"), "\(replies)")
            try await stillServes(server)
        }
    }

    @Test func hundredKiBCommandLine() async throws {
        try await withServer { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                c.send("NOOP " + String(repeating: "A", count: 100 * 1024) + "\r\nNOOP\r\n")
                return c.readReply() + c.readReply()
            }
            #expect(replies.count == 2)
            #expect(replies.first?.hasPrefix("500 5.5.2") == true)
            #expect(replies.last?.hasPrefix("250 2.0.0") == true)
            try await stillServes(server)
        }
    }

    @Test func tenMiBOfRandomBytes() async throws {
        try await withServer { server in
            let outcome = try await blocking { () -> String in
                let c = try server.client()
                _ = c.readReply()
                var generator = SystemRandomNumberGenerator()
                var bytes = [UInt8](repeating: 0, count: 10 * 1024 * 1024)
                for i in stride(from: 0, to: bytes.count, by: 8) {
                    let r = generator.next() as UInt64
                    withUnsafeBytes(of: r) { raw in for k in 0..<8 where i + k < bytes.count { bytes[i + k] = raw[k] } }
                }
                c.send(bytes)
                return c.waitForClose() ? "closed" : "open"
            }
            // Random bytes make errors (or an HTTP-looking line); the server ends the session.
            #expect(outcome == "closed")
            try await stillServes(server)
        }
    }

    @Test func resetsInEveryPhaseLeaveNothingBehind() async throws {
        try await withServer { server in
            let phases = [
                "", "EHLO c\r\n", "EHLO c\r\nMAIL FROM:<a@c.example>\r\n",
                "EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\n",
                "EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\nSubject: half\r\n",
                "EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nBDAT 100\r\nSubject: half\r\n",
            ]
            try await blocking {
                for phase in phases {
                    let c = try server.client()
                    _ = c.readReply()
                    if !phase.isEmpty { c.send(phase) }
                    usleep(50_000)
                    c.abort()
                }
            }
            try await stillServes(server)
            #expect(await server.messages("bob").isEmpty)
            var leftovers = ["?"]
            for _ in 0..<200 where !leftovers.isEmpty {
                leftovers = Spool.messageFiles(root: server.dataDirectory + "/spool")
                if !leftovers.isEmpty { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func lineBreaksSmuggledIntoEnvelopeValuesNeverReachAHeader() async throws {
        try await withServer { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                // A CR inside a command line is refused; the line is not cut in two.
                c.send("EHLO evil\rBcc: victim@xyz.com\r\n")
                var replies = c.readReply()
                c.send("HELO c\r\nMAIL FROM:<a@c.example> ENVID=x\rBcc:y\r\n")
                replies += c.readReply()
                replies += c.readReply()
                return replies
            }
            #expect(replies.first?.hasPrefix("500 5.5.2") == true)
            #expect(replies.last?.hasPrefix("500 5.5.2") == true, "\(replies)")
            try await stillServes(server)
            let delivered = await server.messages("carolyn")
            #expect(delivered.allSatisfy { !$0.contains("Bcc") && !$0.contains("victim") })
        }
    }
}
