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
    static func keys(in directory: String) throws -> [String: Any] {
        var zone: [String: Any] = [:]
        for (selector, algorithm) in [("rsa2026", DKIMAlgorithm.rsaSHA256), ("ed2026", .ed25519SHA256)] {
            let key = try DKIMKey.generate(algorithm)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try key.pemRepresentation.write(toFile: "\(directory)/\(selector).pem", atomically: true, encoding: .utf8)
            zone["\(selector)._domainkey.xyz.com"] = ["TXT": [key.record]]
        }
        return zone
    }

    static func configure(_ config: inout PostieConfiguration, keyDirectory: String, trusted: Bool) throws {
        let loaded = try ConfigurationLoader.load(
            text: """
                data_dir = "\(config.dataDirectory)"
                [dkim."xyz.com"]
                selectors = ["rsa2026", "ed2026"]
                key_dir = "\(keyDirectory)"
                """, file: "test.toml")
        config.dkim = loaded.dkim
        if trusted { config.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!] }
    }

    func send(_ port: Int, from: String, size: Int = 0) throws -> ProcessResult {
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

    func dkimpy(_ message: String, _ dns: TestDNSServer) throws -> ProcessResult {
        try Subprocess.run(["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)"], stdin: message)
    }

    @Test func mailFromATrustedClientIsSignedWithBothKeysAndVerifies() async throws {
        let keyDirectory = try TestPaths.temporaryDirectory("dkim-keys")
        defer { try? FileManager.default.removeItem(atPath: keyDirectory) }
        let dns = try TestDNSServer(zone: try Self.keys(in: keyDirectory))
        var failure: Error?
        try await withServer({ config in
            do { try Self.configure(&config, keyDirectory: keyDirectory, trusted: true) } catch { failure = error }
        }) { server in
            if let failure { throw failure }
            // A small message (held in memory) and a large one (streamed to its file behind
            // room left for the signatures).
            for size in [0, 600_000] {
                let sent = try send(server.port, from: "carolyn@xyz.com", size: size)
                #expect(sent.status == 0, "\(sent.stderr)")
            }
            let delivered = await server.messages("bob")
            #expect(delivered.count == 2)
            for message in delivered {
                // Our signatures come first, after the Return-Path: of the delivery.
                #expect(message.hasPrefix("Return-Path: <carolyn@xyz.com>\nDKIM-Signature: v=1; a="), "\(message.prefix(300))")
                let result = try dkimpy(message, dns)
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
        _ = try Self.keys(in: keyDirectory)
        // Not trusted, not authenticated: mail from outside to a local user is not ours to sign.
        var failure: Error?
        try await withServer({ config in
            do { try Self.configure(&config, keyDirectory: keyDirectory, trusted: false) } catch { failure = error }
        }) { server in
            if let failure { throw failure }
            #expect(try send(server.port, from: "carolyn@xyz.com").status == 0)
            #expect(await server.messages("bob").allSatisfy { !$0.contains("DKIM-Signature") })
        }
        // Trusted, but From: is in a domain without a key.
        try await withServer({ config in
            do { try Self.configure(&config, keyDirectory: keyDirectory, trusted: true) } catch { failure = error }
        }) { server in
            if let failure { throw failure }
            #expect(try send(server.port, from: "someone@abcd.com", size: 600_000).status == 0)
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
        let dns = try TestDNSServer(zone: try Self.keys(in: keyDirectory))
        let remote = try FakeSMTPServer(mode: "reject-rcpt", host: "127.0.0.15")
        var failure: Error?
        try await withServer({ config in
            do { try Self.configure(&config, keyDirectory: keyDirectory, trusted: true) } catch { failure = error }
            config.hostname = "mx.xyz.com"
            config.relay.routes["remote.test"] = .init(host: "127.0.0.15", port: remote.port)
        }) { server in
            if let failure { throw failure }
            let sent = try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                s.sendmail('carolyn@xyz.com', ['nobody@remote.test'], b'From: carolyn@xyz.com\\r\\nSubject: x\\r\\n\\r\\nhi\\r\\n')
                s.quit()
                """, ["\(server.port)"])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(try await eventually { await server.messages("carolyn").count == 1 })
            let report = await server.messages("carolyn")[0]
            #expect(report.contains("From: Mail Delivery System <MAILER-DAEMON@mx.xyz.com>"))
            let result = try dkimpy(report, dns)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" pass d=xyz.com ") }.count == 2, "\(result.stdout)")
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
