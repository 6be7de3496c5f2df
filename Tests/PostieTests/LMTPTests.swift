import Foundation
import MailCore
import Postie
import SMTPNIO
import TestSupport
import Testing

/// Local mailboxes delivered by LMTP to a real Dovecot, and read back over IMAP.
@Suite(.serialized) struct LMTPTests {
    /// One message over SMTP; the final reply's code for each step.
    func send(_ server: TestServer, to recipients: [String], subject: String, body: String) async throws -> [String] {
        try await blocking {
            let c = try server.client()
            var codes = [c.readReply().last ?? ""]
            c.send("EHLO client.example\r\nMAIL FROM:<elinor@abcd.com>\r\n")
            codes += [c.readReply().last ?? "", c.readReply().last ?? ""]
            for r in recipients {
                c.send("RCPT TO:<\(r)>\r\n")
                codes.append(c.readReply().last ?? "")
            }
            c.send("DATA\r\n")
            codes.append(c.readReply().last ?? "")
            c.send("Subject: \(subject)\r\nMessage-ID: <\(subject)@abcd.com>\r\n\r\n\(body)\r\n.\r\nQUIT\r\n")
            codes.append(c.readReply().last ?? "")
            return codes.map { String($0.prefix(3)) }
        }
    }

    /// The messages in a user's INBOX, as IMAP gives them.
    static func imap(_ port: Int, _ user: String) throws -> [String] {
        let script = """
            import imaplib, sys
            m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
            m.login(sys.argv[2], 'secret')
            m.select('INBOX')
            typ, data = m.search(None, 'ALL')
            for n in data[0].split():
                body = m.fetch(n, '(RFC822)')[1][0][1]
                sys.stdout.write(body.decode() + '\\x00')
            m.logout()
            """
        let r = try Subprocess.python(script, ["\(port)", user])
        guard r.status == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return r.stdout.split(separator: "\0").map(String.init)
    }

    @Test(arguments: ["unix", "tcp"])
    func deliversOverLMTPReadBackOverIMAPWithPerRecipientOutcomes(transport: String) async throws {
        let dovecot = try DovecotInstance(users: [.init("carolyn@xyz.com"), .init("bob@xyz.com", quota: "2")])
        let endpoint: ClientEndpoint = transport == "unix" ? .unix(path: dovecot.lmtpSocket) : .tcp(host: "127.0.0.1", port: dovecot.lmtpPort)
        let log = CapturedLog()
        let server = try await TestServer(logger: log.logger) { c in
            c.deliveryByDomain["xyz.com"] = .lmtp(endpoint)
            c.domains["xyz.com"]?.users.insert("dave")  // known to Postie, not to Dovecot
            c.queue.retryMinimum = 600
        }
        // 1.4 KiB each: bob's quota of two (Dovecot counts `storage` in KiB) takes one, not two.
        let filler = Array(repeating: "filler line of text to take up room in bob's mailbox", count: 25).joined(separator: "\r\n")
        #expect(try await send(server, to: ["carolyn@xyz.com", "bob@xyz.com"], subject: "first", body: "line one\r\n..dot\r\n" + filler).last == "250")
        #expect(try await eventually { server.spooled.isEmpty })
        // bob's quota is now full: the second message reaches carolyn and waits for bob; dave is
        // unknown at Dovecot and fails alone.
        #expect(try await send(server, to: ["carolyn@xyz.com", "bob@xyz.com", "dave@xyz.com"], subject: "second", body: filler).last == "250")
        #expect(try await eventually { log.text.split(separator: "\n").contains { $0.contains(" deferred ") && $0.contains("to=bob@xyz.com") } })
        #expect(try await eventually { log.text.split(separator: "\n").contains { $0.contains(" bounced ") && $0.contains("to=dave@xyz.com") } })
        let lines = log.text.split(separator: "\n")
        let deferred = lines.first { $0.contains(" deferred ") && $0.contains("to=bob@xyz.com") } ?? ""
        #expect(deferred.contains("dsn=4.2.2"), "\(lines.filter { $0.contains("bob") })")
        #expect(deferred.contains("relay=lmtp:\(endpoint)"), "\(deferred)")
        #expect(lines.filter { $0.contains(" sent ") && $0.contains("to=carolyn@xyz.com") }.count == 2)
        #expect(try await eventually { await server.messages("elinor", "abcd.com").contains { $0.contains("Final-Recipient: rfc822; dave@xyz.com") } })
        // Once the report to elinor is delivered, only the second message is left, waiting for bob.
        #expect(try await eventually { server.spooled.count == 1 }, "\(server.spooled)")

        let carolyn = try Self.imap(dovecot.imapPort, "carolyn@xyz.com")
        #expect(carolyn.count == 2)
        let first = withoutTraceFields(carolyn.first?.replacingOccurrences(of: "\r\n", with: "\n") ?? "")
        let expected = "Subject: first\nMessage-ID: <first@abcd.com>\n\nline one\n.dot\n" + filler.replacingOccurrences(of: "\r\n", with: "\n") + "\n"
        #expect(first == expected, "\(first.debugDescription)")
        #expect(carolyn.first?.contains("by mx.test (Postie) with ESMTP id") == true, "Postie's Received field is kept")
        #expect(try Self.imap(dovecot.imapPort, "bob@xyz.com").count == 1)
        await server.stop()
    }

    /// Dovecot reads Postie's own Maildir layout (`<mail_root>/<domain>/<user>`) unchanged.
    @Test func dovecotServesPostiesMaildirs() async throws {
        let data = try TestPaths.temporaryDirectory("maildir-for-dovecot")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let server = try await TestServer { $0.dataDirectory = data }
        #expect(try await send(server, to: ["carolyn@xyz.com"], subject: "maildir", body: "from postie's maildir").last == "250")
        #expect(try await eventually { await server.messages("carolyn").count == 1 })
        // Deployed, Postie and Dovecot's mail processes share a user; here the test hands the files over.
        _ = try Subprocess.run(["chown", "-R", "65534:65534", data + "/mail"])
        _ = try Subprocess.run(["chmod", "o+x", data])
        let dovecot = try DovecotInstance(users: [.init("carolyn@xyz.com")], mailRoot: data + "/mail")
        let read = try Self.imap(dovecot.imapPort, "carolyn@xyz.com")
        #expect(read.count == 1, "\(dovecot.log)")
        #expect(read.first?.contains("Subject: maildir\r\n") == true)
        #expect(read.first?.hasSuffix("\r\nfrom postie's maildir\r\n") == true, "\(read.first?.debugDescription ?? "")")
        await server.server.stop()
    }
}
