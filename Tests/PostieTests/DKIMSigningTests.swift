import Foundation
import MailAuth
import MailCore
import Postie
import Testing
import TestSupport

/// Mail from our users is signed on its way in, and an independent verifier (dkimpy, keys served
/// by the tests' DNS server) accepts the signatures on what is delivered.
@Suite struct DKIMSigningTests {
    /// Two keys for xyz.com (dual signing) in files, as `postie dkim keygen` leaves them.
    /// (Made off the cooperative threads: an RSA key takes long in a debug build.)
    static func keys(in directory: String) async throws -> [String: Any] {
        try await blocking { try makeKeys(in: directory) }
    }

    static func makeKeys(in directory: String) throws -> [String: [String: [String]]] {
        var zone: [String: [String: [String]]] = [:]
        for (selector, algorithm) in [("rsa2026", DKIMAlgorithm.rsaSHA256), ("ed2026", .ed25519SHA256)] {
            let key = try DKIMKey.generate(algorithm)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try key.pemRepresentation.write(toFile: "\(directory)/\(selector).pem", atomically: true, encoding: .utf8)
            zone["\(selector)._domainkey.xyz.com"] = ["TXT": [key.record]]
        }
        return zone
    }

    /// The keys of `keyDirectory` for xyz.com, as the configuration file names them.
    static func dkim(_ keyDirectory: String) throws -> DKIMSettings {
        try ConfigurationLoader.load(
            text: """
                [dkim."xyz.com"]
                selectors = ["rsa2026", "ed2026"]
                key_dir = "\(keyDirectory)"
                """, file: "test.toml"
        ).dkim
    }

    /// A server signing with those keys; `trusted`: 127.0.0.1 is a trusted network.
    func withSigningServer(_ keyDirectory: String, trusted: Bool, _ body: (TestServer) async throws -> Void) async throws {
        try await withSigningServer(keyDirectory, trusted: trusted, adjust: { _ in }, body)
    }

    func withSigningServer(
        _ keyDirectory: String, trusted: Bool, adjust: @escaping (inout PostieConfiguration) -> Void, _ body: (TestServer) async throws -> Void
    ) async throws {
        let dkim = try Self.dkim(keyDirectory)
        try await withServer({ config in
            config.dkim = dkim
            if trusted { config.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!] }
            adjust(&config)
        }, body)
    }

    /// (Blocking work runs off the cooperative threads, which parallel tests share.)
    func send(_ port: Int, from: String, size: Int = 0) async throws -> ProcessResult {
        try await blocking {
            try Subprocess.python(
            """
            import smtplib, sys
            body = "Hello,  \\r\\n\\r\\nsee you at noon.\\t\\r\\n" + ("x" * 76 + "\\r\\n") * (int(sys.argv[3]) // 78)
            msg = ("From: Carolyn <" + sys.argv[2] + ">\\r\\nTo: bob@xyz.com\\r\\nSubject: Lunch,\\r\\n today?\\r\\n"
                   "Date: Sun, 6 Dec 2026 12:00:00 +0000\\r\\nMessage-ID: <lunch@xyz.com>\\r\\n\\r\\n" + body)
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
            s.sendmail(sys.argv[2], ["bob@xyz.com"], msg.encode())
            s.quit()
            """, ["\(port)", from, "\(size)"])
        }
    }

    func dkimpy(_ message: String, _ dns: TestDNSServer, arc: Bool = false) async throws -> ProcessResult {
        try await blocking {
            try Subprocess.run(
                ["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)"] + (arc ? ["--arc"] : []), stdin: message)
        }
    }

    func dnsServer(_ zone: [String: Any]) async throws -> TestDNSServer {
        nonisolated(unsafe) let zone = zone
        return try await blocking { try TestDNSServer(zone: zone) }
    }

    @Test func mailFromATrustedClientIsSignedWithBothKeysAndVerifies() async throws {
        let keyDirectory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let dns = try await dnsServer(try await Self.keys(in: keyDirectory))
        try await withSigningServer(keyDirectory, trusted: true) { server in
            // A small message (held in memory) and a large one (streamed to its file behind
            // room left for the signatures).
            for size in [0, 600_000] {
                let sent = try await send(server.port, from: "carolyn@xyz.com", size: size)
                #expect(sent.status == 0, "\(sent.stderr)")
            }
            let delivered = await server.messages("bob")
            #expect(delivered.count == 2)
            for message in delivered {
                // Our signatures come first, after the Return-Path: of the delivery.
                #expect(message.hasPrefix("Return-Path: <carolyn@xyz.com>\nDKIM-Signature: v=1; a="), "\(message.prefix(300))")
                let result = try await dkimpy(message, dns)
                #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
                let passes = result.stdout.components(separatedBy: "\n").filter { $0.contains(" pass d=xyz.com ") }
                #expect(passes.count == 2, "\(result.stdout)")
            }
            // (Maildir files end their lines with LF alone.)
            #expect(delivered.map(\.utf8.count).max()! > 590_000)
        }
    }

    @Test func mailFromStrangersOrOtherDomainsIsNotSigned() async throws {
        let keyDirectory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        _ = try await Self.keys(in: keyDirectory)
        // Not trusted, not authenticated: mail from outside to a local user is not ours to sign.
        try await withSigningServer(keyDirectory, trusted: false) { server in
            let sent = try await send(server.port, from: "carolyn@xyz.com")
            #expect(sent.status == 0)
            let delivered = await server.messages("bob")
            #expect(delivered.count == 1, "delivered, so that what follows is about a message")
            #expect(delivered.allSatisfy { !$0.contains("DKIM-Signature") })
        }
        // Trusted, but From: is in a domain without a key.
        try await withSigningServer(keyDirectory, trusted: true) { server in
            let sent = try await send(server.port, from: "someone@abcd.com", size: 600_000)
            #expect(sent.status == 0)
            let delivered = await server.messages("bob")
            #expect(delivered.count == 1)
            #expect(delivered.allSatisfy { !$0.contains("DKIM-Signature") && !$0.contains("X-Postie-Filler") })
        }
    }

    /// A delivery report Postie makes (From: MAILER-DAEMON@mx.xyz.com) is signed with the keys of
    /// the parent domain, xyz.com.
    @Test func reportsAreSignedWithTheParentDomainsKeys() async throws {
        let keyDirectory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let dns = try await dnsServer(try await Self.keys(in: keyDirectory))
        let remote = try await blocking { try FakeSMTPServer(mode: "reject-rcpt", host: "127.0.0.15") }
        try await withSigningServer(keyDirectory, trusted: true, adjust: { config in
            config.hostname = "mx.xyz.com"
            config.relay.routes["remote.test"] = .init(host: "127.0.0.15", port: remote.port)
        }) { server in
            let sent = try await blocking {
                try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                s.sendmail('carolyn@xyz.com', ['nobody@remote.test'], b'From: carolyn@xyz.com\\r\\nSubject: x\\r\\n\\r\\nhi\\r\\n')
                s.quit()
                """, ["\(server.port)"])
            }
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(try await eventually { await server.messages("carolyn").count == 1 })
            let report = await server.messages("carolyn")[0]
            #expect(report.contains("From: Mail Delivery System <MAILER-DAEMON@mx.xyz.com>"))
            let result = try await dkimpy(report, dns)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" pass d=xyz.com ") }.count == 2, "\(result.stdout)")
        }
    }

    /// A stranger's mail that an alias forwards elsewhere leaves with an ARC set by the alias's
    /// domain, which dkimpy's ARC verifier validates; mail to a local user is not sealed.
    @Test func forwardedMailIsSealedWithARC() async throws {
        let keyDirectory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let dns = try await dnsServer(try await Self.keys(in: keyDirectory))
        let remote = try await blocking { try FakeSMTPServer(mode: "accept", host: "127.0.0.16") }
        try await withSigningServer(keyDirectory, trusted: false, adjust: { config in
            config.domains["xyz.com"]?.aliases["fwd"] = ["friend@remote.test"]
            config.relay.routes["remote.test"] = .init(host: "127.0.0.16", port: remote.port)
            // What the checks found goes into the seal's results.
            config.verify.enabled = true
            config.relay.dnsServer = .init(host: "127.0.0.1", port: dns.port)
        }) { server in
            let sent = try await blocking {
                try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                msg = b'From: Alice <alice@example.org>\\r\\nTo: fwd@xyz.com\\r\\nSubject: hello\\r\\n\\r\\nbody  \\r\\n'
                s.sendmail('alice@example.org', ['fwd@xyz.com'], msg)
                s.sendmail('alice@example.org', ['bob@xyz.com'], msg)
                s.quit()
                """, ["\(server.port)"])
            }
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(try await eventually { remote.messages.count == 1 })
            // The fake peer puts the envelope first; the message follows.
            let forwarded = remote.messages[0].components(separatedBy: "\r\n").drop { $0.hasPrefix("X-Envelope-") }.joined(separator: "\r\n")
            #expect(forwarded.hasPrefix("ARC-Seal: i=1; a=rsa-sha256; t="), "\(forwarded.prefix(200))")
            #expect(
                forwarded.contains(
                    "ARC-Authentication-Results: i=1; mx.test;\r\n\tspf=none smtp.mailfrom=example.org;\r\n\tdkim=none;\r\n"
                        + "\tdmarc=none (no DMARC record) header.from=example.org;\r\n\tarc=none\r\n"), "\(forwarded.prefix(1500))")
            // Our own results travel too, below the seal.
            #expect(forwarded.contains("Authentication-Results: mx.test;\r\n\tspf=none"))
            #expect(!forwarded.contains("DKIM-Signature"), "a stranger's mail is not ours to sign")
            let result = try await dkimpy(forwarded, dns, arc: true)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            let local = await server.messages("bob")
            #expect(local.count == 1, "delivered, so that what follows is about a message")
            #expect(local.allSatisfy { !$0.contains("ARC-Seal") })
        }
    }

    @Test func aMissingOrShortKeyIsAConfigurationErrorNamingIt() throws {
        let directory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = """
            [dkim."xyz.com"]
            selectors = ["gone"]
            key_dir = "\(directory)"
            """
        #expect {
            _ = try ConfigurationLoader.load(text: text, file: "postie.toml")
        } throws: { error in
            "\(error)".contains("postie.toml") && "\(error)".contains("dkim") && "\(error)".contains("gone.pem")
                && "\(error)".contains("postie dkim keygen")
        }
    }
}
