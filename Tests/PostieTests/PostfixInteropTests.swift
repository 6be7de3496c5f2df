import Foundation
import MailCore
import Postie
import TestSupport
import Testing

/// Postie and Postfix (from Debian) relaying to each other on loopback: messages arrive intact
/// apart from the trace fields each adds.
@Suite(.serialized) struct PostfixInteropTests {
    static let body = "From: Elinor <elinor@abcd.com>\nTo: bob@pf.test\nDate: Sun, 29 Nov 2026 21:00:00 +0000\nSubject: interop\nMessage-ID: <interop@abcd.com>\n\n.a line that starts with a dot\n..two dots\n\nafter an empty line\n"
        + String(repeating: "0123456789 abcdefghij ", count: 40) + "\nend\n"

    @Test func postieToPostfixAndBack() async throws {
        let postfixPort = try TestPaths.freePort()
        let server = try await TestServer { c in
            c.relay.trustedNetworks = [IPNetwork("127.0.0.0/8")!]
            c.relay.routes["pf.test"] = .init(host: "127.0.0.1", port: postfixPort)
        }
        let postfix: PostfixInstance
        do {
            postfix = try PostfixInstance(postiePort: server.port, port: postfixPort)
        } catch {
            await server.stop()
            throw error
        }
        defer { postfix.stop() }

        // Postie relays to Postfix.
        let toPostfix = try await blocking {
            try Subprocess.python(Self.send, ["\(server.port)", "elinor@abcd.com", "bob@pf.test"], stdin: Self.body)
        }
        #expect(toPostfix.stdout == "sent\n", "\(toPostfix.stderr)")
        #expect(try await eventually(30) { postfix.delivered.count == 1 }, "\(postfix.log)")
        let atPostfix = postfix.delivered.first ?? ""
        #expect(withoutTraceFields(atPostfix) == Self.body, "\(atPostfix)")
        #expect(atPostfix.contains("by mx.test (Postie) with ESMTP id "))
        #expect(atPostfix.hasPrefix("Return-Path: <elinor@abcd.com>\n"))

        // Postfix relays to Postie.
        let toPostie = try await blocking {
            try Subprocess.python(Self.send, ["\(postfix.port)", "bob@pf.test", "carolyn@xyz.com"], stdin: Self.body)
        }
        #expect(toPostie.stdout == "sent\n", "\(toPostie.stderr)")
        #expect(try await eventually(30) { await server.messages("carolyn").count == 1 }, "\(postfix.log)")
        let atPostie = await server.messages("carolyn").first ?? ""
        #expect(withoutTraceFields(atPostie) == Self.body, "\(atPostie)")
        #expect(atPostie.hasPrefix("Return-Path: <bob@pf.test>\nReceived: from pf.test ([127.0.0.1])\n\tby mx.test (Postie) with ESMTP id "))
        #expect(postfix.log.contains("relay=127.0.0.1[127.0.0.1]:\(server.port)"))
        #expect(postfix.log.contains("status=sent (250 2.0.0 Ok: queued as "))
        await server.stop()
    }

    static let send = """
        import smtplib, sys
        body = sys.stdin.read().replace('\\n', '\\r\\n').encode()
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
        s.ehlo('client.example')
        s.sendmail(sys.argv[2], [sys.argv[3]], body)
        s.quit()
        print('sent')
        """
}
