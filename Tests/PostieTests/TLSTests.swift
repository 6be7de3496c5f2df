import Foundation
import MailCore
import Postie
import TestSupport
import Testing

/// STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with real clients, and TLS when relaying.
@Suite(.serialized) struct TLSTests {
    static let pythonTLS = """
        import smtplib, socket, ssl, sys
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        port, mode = int(sys.argv[1]), sys.argv[2]
        if mode == 'tls12':
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            mode = 'starttls'
        if mode == 'starttls':
            s = smtplib.SMTP('127.0.0.1', port, timeout=30)
            s.ehlo('client.example')
            print('STARTTLS offered' if s.has_extn('starttls') else 'no STARTTLS')
            s.starttls(context=ctx)
            print(s.sock.version())
            print(s.sock.cipher()[0])
            s.ehlo('client.example')
            print('STARTTLS offered again' if s.has_extn('starttls') else 'not offered again')
            print(s.docmd('STARTTLS')[0])
            s.sendmail('a@client.example', ['bob@xyz.com'], b'Subject: over starttls\\r\\n\\r\\nsecret\\r\\n')
            s.quit()
        elif mode == 'implicit':
            s = smtplib.SMTP_SSL('127.0.0.1', port, context=ctx, timeout=30)
            s.ehlo('client.example')
            print(s.sock.version())
            print(s.sock.cipher()[0])
            print('STARTTLS offered' if s.has_extn('starttls') else 'no STARTTLS')
            s.sendmail('a@client.example', ['bob@xyz.com'], b'Subject: over implicit tls\\r\\n\\r\\nsecret\\r\\n')
            s.quit()
        elif mode == 'injection':
            # CVE-2011-0411: commands pipelined with STARTTLS must be thrown away.
            raw = socket.create_connection(('127.0.0.1', port), timeout=30)
            f = raw.makefile('rb')
            f.readline()
            raw.sendall(b'EHLO client.example\\r\\n')
            while True:
                line = f.readline()
                if line[3:4] == b' ': break
            raw.sendall(b'STARTTLS\\r\\nMAIL FROM:<injected@evil.example>\\r\\n')
            print(f.readline().decode().strip())
            t = ctx.wrap_socket(raw)
            tf = t.makefile('rb')
            t.sendall(b'EHLO client.example\\r\\n')
            while True:
                line = tf.readline()
                if line[3:4] == b' ': break
            t.sendall(b'RCPT TO:<bob@xyz.com>\\r\\n')
            print(tf.readline().decode().strip())
            t.sendall(b'QUIT\\r\\n')
        print('done')
        """

    @Test func startTLSWithSmtplib() async throws {
        try await withServer { server in
            let r = try await blocking { try Subprocess.python(Self.pythonTLS, ["\(server.port)", "starttls"]) }
            #expect(r.stdout.hasPrefix("STARTTLS offered\nTLSv1."), "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("\nnot offered again\n503\ndone\n"), "\(r.stdout)\(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init) + ["?", "?", "?"]
            let bob = await server.messages("bob")
            #expect(bob.count == 1)
            // The version and cipher the client saw are the ones the Received: field names.
            #expect(bob.first?.contains("with ESMTPS (version=\(lines[1]) cipher=\(lines[2]))") == true, "\(bob) \(lines)")
            #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/tls/cert.pem"))
        }
    }

    @Test func tls12CipherIsNamed() async throws {
        try await withServer { server in
            let r = try await blocking { try Subprocess.python(Self.pythonTLS, ["\(server.port)", "tls12"]) }
            let lines = r.stdout.split(separator: "\n").map(String.init) + ["?", "?", "?"]
            #expect(lines[1] == "TLSv1.2", "\(r.stdout)\(r.stderr)")
            #expect(lines[2].hasPrefix("ECDHE-"), "\(r.stdout)")
            let bob = await server.messages("bob")
            #expect(bob.first?.contains("with ESMTPS (version=TLSv1.2 cipher=\(lines[2]))") == true, "\(bob)")
        }
    }

    /// TLS 1.2 with a CBC-SHA1 suite only: refused unless `tls.legacy_ciphers` is on; an AEAD
    /// suite is taken either way.
    static let oneCipher = """
        import smtplib, ssl, sys
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(sys.argv[2])
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
        try:
            s.starttls(context=ctx)
            print('handshake', s.sock.cipher()[0])
        except ssl.SSLError as e:
            print('refused')
        """

    @Test func onlyAEADSuitesUnlessLegacyIsAsked() async throws {
        try await withServer { server in
            let cbc = try await blocking { try Subprocess.python(Self.oneCipher, ["\(server.port)", "ECDHE-ECDSA-AES128-SHA"]) }
            #expect(cbc.stdout == "refused\n", "\(cbc.stdout)\(cbc.stderr)")
            let gcm = try await blocking { try Subprocess.python(Self.oneCipher, ["\(server.port)", "ECDHE-ECDSA-AES128-GCM-SHA256"]) }
            #expect(gcm.stdout == "handshake ECDHE-ECDSA-AES128-GCM-SHA256\n", "\(gcm.stdout)\(gcm.stderr)")
        }
        try await withServer({ $0.tls.legacyCiphers = true }) { server in
            let cbc = try await blocking { try Subprocess.python(Self.oneCipher, ["\(server.port)", "ECDHE-ECDSA-AES128-SHA"]) }
            #expect(cbc.stdout == "handshake ECDHE-ECDSA-AES128-SHA\n", "\(cbc.stdout)\(cbc.stderr)")
        }
    }

    @Test func pipelinedPlaintextAfterSTARTTLSIsDiscarded() async throws {
        try await withServer { server in
            let r = try await blocking { try Subprocess.python(Self.pythonTLS, ["\(server.port)", "injection"]) }
            #expect(r.stdout == "220 2.0.0 Ready to start TLS\n503 5.5.1 Error: need MAIL command\ndone\n", "\(r.stdout)\(r.stderr)")
        }
    }

    @Test func implicitTLSListener() async throws {
        try await withServer({ $0.smtp.tlsListen = [.init(host: "127.0.0.1", port: 0)] }) { server in
            let tlsPort = server.server.addresses[1].port!
            let r = try await blocking { try Subprocess.python(Self.pythonTLS, ["\(tlsPort)", "implicit"]) }
            let lines = r.stdout.split(separator: "\n").map(String.init) + ["?", "?"]
            #expect(lines[0].hasPrefix("TLSv1."), "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("\nno STARTTLS\ndone\n"))
            let bob = await server.messages("bob")
            #expect(bob.first?.contains("with ESMTPS (version=\(lines[0]) cipher=\(lines[1]))") == true, "\(bob)")
        }
    }

    @Test func certificateIsKeptAndReused() async throws {
        let dir = try TestPaths.temporaryDirectory("tls-keep")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await TestServer { $0.dataDirectory = dir }
        await first.server.stop()
        let cert = try String(contentsOfFile: dir + "/tls/cert.pem", encoding: .utf8)
        #expect(cert.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let keyMode = try FileManager.default.attributesOfItem(atPath: dir + "/tls/key.pem")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        // Named in the configuration, the same files serve; no new certificate is made.
        let second = try await TestServer {
            $0.dataDirectory = dir
            $0.tls.certificate = dir + "/tls/cert.pem"
            $0.tls.key = dir + "/tls/key.pem"
        }
        let r = try await blocking { try Subprocess.python(Self.pythonTLS, ["\(second.port)", "starttls"]) }
        #expect(r.stdout.hasSuffix("done\n"), "\(r.stderr)")
        await second.server.stop()
        #expect(try String(contentsOfFile: dir + "/tls/cert.pem", encoding: .utf8) == cert)
    }

    @Test func verifyPolicyChecksTheCertificateAndTheName() async throws {
        // The receiver's self-signed certificate names mx.receiver.test; the sender trusts it.
        let receiver = try await TestServer {
            $0.hostname = "mx.receiver.test"
            $0.domains["remote.test"] = .init(users: ["dave"])
        }
        let dns = try TestDNSServer(zone: [
            "remote.test": ["MX": [[10, "mx.receiver.test"]]], "mx.receiver.test": ["A": ["127.0.0.1"]],
            "wrong.test": ["MX": [[10, "other.receiver.test"]]], "other.receiver.test": ["A": ["127.0.0.1"]],
        ])
        let sender = try await TestServer { c in
            c.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]
            c.relay.dnsServer = .init(host: "127.0.0.1", port: dns.port)
            c.relay.port = receiver.port
            c.relay.tls = .verify
            c.relay.tlsCAFile = receiver.dataDirectory + "/tls/cert.pem"
            c.queue.retryMinimum = 3600
        }
        let send = """
            import smtplib, sys
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
            s.sendmail('a@xyz.com', [sys.argv[2]], b'Subject: verified\\r\\n\\r\\nx\\r\\n')
            s.quit()
            """
        _ = try await blocking { try Subprocess.python(send, ["\(sender.port)", "dave@remote.test"]) }
        #expect(try await eventually { await receiver.messages("dave", "remote.test").count == 1 })
        #expect(await receiver.messages("dave", "remote.test").first?.contains("with ESMTPS (version=TLSv1.") == true)
        // The same certificate reached under another name does not verify: the mail waits.
        _ = try await blocking { try Subprocess.python(send, ["\(sender.port)", "dave@wrong.test"]) }
        #expect(try await eventually { await sender.deferredCount() == 1 })
        await sender.stop()
        await receiver.stop()
    }

    @Test func relayUsesSTARTTLSWhenOfferedAndRequiresItWhenTold() async throws {
        // The receiving side is another Postie, which offers STARTTLS.
        let receiver = try await TestServer { $0.domains["remote.test"] = .init(users: ["dave"]) }
        let sender = try await TestServer { c in
            c.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.1", port: receiver.port)
            c.relay.routes["plain.test"] = .init(host: "127.0.0.1", port: 9)
            c.relay.connectTimeout = 2
        }
        let fake = try FakeSMTPServer(mode: "accept")
        let strict = try await TestServer { c in
            c.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]
            c.relay.routes["plain.test"] = .init(host: "127.0.0.1", port: fake.port)
            c.relay.tlsPolicy["plain.test"] = .encrypt
            c.queue.retryMinimum = 3600
        }
        let send = """
            import smtplib, sys
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
            s.sendmail('a@xyz.com', [sys.argv[2]], b'Subject: relayed over tls\\r\\n\\r\\nx\\r\\n')
            s.quit()
            print('sent')
            """
        let a = try await blocking { try Subprocess.python(send, ["\(sender.port)", "dave@remote.test"]) }
        #expect(a.stdout == "sent\n", "\(a.stderr)")
        var dave: [String] = []
        for _ in 0..<200 where dave.isEmpty {
            dave = await receiver.messages("dave", "remote.test")
            if dave.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(dave.first?.contains("by mx.test (Postie) with ESMTPS (version=TLSv1.") == true, "\(dave)")
        // The sender's transcript of the attempt names what TLS settled (the same as the receiver's
        // Received: field says).
        let traces = sender.dataDirectory + "/spool/trace"
        var trace = ""
        for _ in 0..<100 where !trace.contains("TLS established") {
            trace = ((try? FileManager.default.contentsOfDirectory(atPath: traces)) ?? [])
                .compactMap { try? String(contentsOfFile: traces + "/" + $0, encoding: .utf8) }.joined()
            if !trace.contains("TLS established") { try await Task.sleep(for: .milliseconds(50)) }
        }
        let received = try #require(dave.first?.firstMatch(of: /version=(TLSv1\.\d) cipher=(\S+?)\)/))
        #expect(trace.contains("TLS established: \(received.1) \(received.2)"), "\(trace)")

        let b = try await blocking { try Subprocess.python(send, ["\(strict.port)", "x@plain.test"]) }
        #expect(b.stdout == "sent\n", "\(b.stderr)")
        var deferred = 0
        for _ in 0..<200 where deferred == 0 {
            deferred = await strict.deferredCount()
            if deferred == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(deferred == 1)
        #expect(fake.messages.isEmpty)
        let envelope = strict.spooled.first.flatMap { try? String(contentsOfFile: strict.dataDirectory + "/spool/env/" + $0, encoding: .utf8) } ?? ""
        #expect(envelope.contains("TLS is required"), "\(envelope)")
        await sender.stop()
        await receiver.stop()
        await strict.stop()
    }
}
