import Foundation
import Storage
import TestSupport
import Testing

@Suite struct ServerBehaviourTests {
    @Test func clientDroppingMidDataDeliversNothing() async throws {
        try await withServer { server in
            try await blocking {
                let c = try server.client()
                _ = c.readReply()
                c.send("EHLO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\n")
                for _ in 0..<4 { _ = c.readReply() }
                c.send("Subject: cut off\r\n\r\n" + String(repeating: "half a message\r\n", count: 5000))
                c.abort()
            }
            // A new session proves the server is still serving, and orders us after the drop.
            let problems = try await blocking { try server.client().run(Transcript.named("figure1.smtp")) }
            #expect(problems.isEmpty)
            #expect(await server.messages("bob").isEmpty)
            #expect(await server.messages("carolyn").count == 1)
            // The abandoned file is removed once its last write has finished; wait for that, bounded.
            var leftovers = ["?"]
            for _ in 0..<200 where !leftovers.isEmpty {
                leftovers = Spool.messageFiles(root: server.dataDirectory + "/spool")
                if !leftovers.isEmpty { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func localPartsCannotLeaveTheMailRoot() async throws {
        try await withServer { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                c.send("HELO c\r\nMAIL FROM:<a@c.example>\r\n")
                _ = c.readReply()
                _ = c.readReply()
                var replies: [String] = []
                for local in ["\"../../etc\"", "\"a/b\"", "\"..\"", "\".ssh\"", "\"a\\\u{7f}\""] {
                    c.send("RCPT TO:<\(local)@xyz.com>\r\n")
                    replies += c.readReply()
                }
                return replies
            }
            #expect(replies.count == 5)
            // 553 from the directory; the control character is already a syntax error (501).
            #expect(replies.prefix(4).allSatisfy { $0.hasPrefix("553 5.1.3") }, "\(replies)")
            #expect(replies.last?.hasPrefix("501 5.1.3") == true)
            let entries = try FileManager.default.contentsOfDirectory(atPath: server.mailRoot)
            #expect(entries.isEmpty)
        }
    }

    @Test func idleClientTimesOut() async throws {
        try await withServer({ $0.smtp.commandTimeout = 1 }) { server in
            let lines = try await blocking { () -> [String] in
                let c = try server.client()
                var lines = c.readReply()
                c.send("EHLO c\r\n")
                _ = c.readReply()
                lines += c.readReply()  // then say nothing
                lines.append(c.waitForClose() ? "<closed>" : "<open>")
                return lines
            }
            #expect(lines.count == 3)
            #expect(lines[1].hasPrefix("421 4.4.2"))
            #expect(lines[2] == "<closed>")
        }
    }

    @Test func connectionLimitsSayNotPrepared() async throws {
        try await withServer({
            $0.smtp.maxConnections = 2
            $0.smtp.maxConnectionsPerClient = 2
        }) { server in
            let third = try await blocking { () -> [String] in
                let a = try server.client()
                let b = try server.client()
                _ = a.readReply()
                _ = b.readReply()
                let c = try server.client()
                var lines = c.readReply()
                lines.append(c.waitForClose() ? "<closed>" : "<open>")
                a.send("QUIT\r\n")
                return lines
            }
            #expect(third.first?.hasPrefix("421 4.3.2 mx.test Too many connections") == true)
            #expect(third.last == "<closed>")
            #expect(server.metricsText.contains(#"postie_limits_hit_total{limit="connections"} 1"#))
            #expect(server.metricsText.contains(#"postie_smtp_connections_total{listener="smtp",outcome="refused_limit"} 1"#))
        }
    }

    @Test func loopGuardRefusesTooManyHops() async throws {
        try await withServer({ $0.smtp.maxReceivedHeaders = 5 }) { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                c.send("HELO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\n")
                for _ in 0..<4 { _ = c.readReply() }
                c.send(String(repeating: "Received: from x by y; date\r\n", count: 6) + "Subject: loop\r\n\r\nx\r\n.\r\n")
                var replies = c.readReply()
                c.send("MAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\n")
                for _ in 0..<3 { _ = c.readReply() }
                c.send(String(repeating: "Received: from x by y; date\r\n", count: 5) + "Subject: ok\r\n\r\nx\r\n.\r\n")
                replies += c.readReply()
                return replies
            }
            #expect(replies.first?.hasPrefix("554 5.4.6") == true)
            #expect(replies.last?.hasPrefix("250 2.0.0") == true)
            let bob = await server.messages("bob")
            #expect(bob.count == 1)
            #expect(bob.first?.contains("Subject: ok") == true)
        }
    }

    @Test func shutdownSays421ToIdleAndLetsTransactionsFinish() async throws {
        let server = try await TestServer { $0.smtp.shutdownGrace = 10 }
        let (idle, busy) = try await blocking { () -> (LineClient, LineClient) in
            let idle = try server.client()
            _ = idle.readReply()
            idle.send("EHLO c\r\n")
            _ = idle.readReply()
            let busy = try server.client()
            _ = busy.readReply()
            busy.send("HELO c\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<bob@xyz.com>\r\nDATA\r\n")
            for _ in 0..<4 { _ = busy.readReply() }
            busy.send("Subject: in flight\r\n\r\n")
            return (idle, busy)
        }
        let stopping = Task { await server.server.stop() }
        let idleLines = try await blocking { () -> [String] in
            var lines = idle.readReply()
            lines.append(idle.waitForClose() ? "<closed>" : "<open>")
            return lines
        }
        #expect(idleLines.first?.hasPrefix("421 4.3.2") == true)
        #expect(idleLines.last == "<closed>")
        let busyLines = try await blocking { () -> [String] in
            busy.send("finishing\r\n.\r\n")
            var lines = busy.readReply()
            lines += busy.readReply()
            lines.append(busy.waitForClose() ? "<closed>" : "<open>")
            return lines
        }
        #expect(busyLines.count == 3)
        #expect(busyLines.first?.hasPrefix("250 2.0.0 Ok: queued as") == true)
        #expect(busyLines.dropFirst().first?.hasPrefix("421 4.3.2") == true)
        await stopping.value
        let delivered = try FileManager.default.contentsOfDirectory(atPath: server.mailRoot + "/xyz.com/bob/new")
        #expect(delivered.count == 1)
        try? FileManager.default.removeItem(atPath: server.dataDirectory)
    }

    @Test func restartDeliversWhatWasCommitted() async throws {
        let dir = try TestPaths.temporaryDirectory("restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A committed message whose delivery never happened (as after a crash): envelope and data.
        let first = try await TestServer { $0.dataDirectory = dir }
        await first.server.stop()
        let id = "18C0FFEE0000001"
        let message = "Received: from c ([127.0.0.1])\r\n\tby mx.test (Postie) with SMTP id \(id);\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\nSubject: recovered\r\n\r\nbody\r\n"
        try message.write(toFile: dir + "/spool/msg/" + id, atomically: false, encoding: .utf8)
        let envelope = """
            Postie-Envelope: 1
            Id: \(id)
            Arrival: 1767225600
            Size: \(message.utf8.count)
            Sender: <a@c.example>
            Client: 127.0.0.1
            Helo: c
            Protocol: SMTP
            Recipient: mailbox:carolyn@xyz.com\tpending\tattempts=0\toriginal=<carolyn@xyz.com>

            """
        try envelope.write(toFile: dir + "/spool/env/" + id, atomically: false, encoding: .utf8)
        let second = try await TestServer { $0.dataDirectory = dir }
        let delivered = await second.messages("carolyn")
        #expect(delivered.map(body) == ["Subject: recovered\n\nbody\n"])
        // It left the queue (its file is kept for reuse under another name).
        #expect(try await eventually { !second.spooled.contains(id) && !FileManager.default.fileExists(atPath: dir + "/spool/env/" + id) })
        await second.server.stop()
    }
}
