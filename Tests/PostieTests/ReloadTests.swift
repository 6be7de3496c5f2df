import Foundation
import Logging
import Postie
import TestSupport
import Testing

/// Reloading the configuration of a running server: what changes for new transactions, what
/// waits for a restart, and a bad file that changes nothing.
@Suite struct ReloadTests {
    static let base = """
        hostname = "mx.test"
        data_dir = "DATA"

        [smtp]
        listen = ["127.0.0.1:0"]
        max_recipients = 100

        [domains."xyz.com"]
        users = ["carolyn"]

        [admin]
        listen = []
        """

    @Test func changesAreNamedKeyByKeyAndRestartKeysAreKept() throws {
        let old = try ConfigurationLoader.load(text: Self.base, file: "old.toml")
        let new = try ConfigurationLoader.load(
            text: Self.base.replacingOccurrences(of: "users = [\"carolyn\"]", with: "users = [\"carolyn\", \"dave\"]")
                .replacingOccurrences(of: "max_recipients = 100", with: "max_recipients = 5")
                .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:2626")
                .replacingOccurrences(of: "DATA", with: "OTHER"),
            file: "new.toml")
        let changes = ConfigurationChanges(from: old, to: new)
        #expect(
            changes.changed == [
                "data_dir", "domains.\"xyz.com\".users", "mail_root", "smtp.listen", "smtp.max_recipients",
            ])
        #expect(changes.needRestart == ["data_dir", "mail_root", "smtp.listen"])
        let applied = ConfigurationChanges.applicable(new, running: old)
        #expect(applied.dataDirectory == "DATA")
        #expect(applied.smtp.listen == old.smtp.listen)
        #expect(applied.smtp.limits.maxRecipients == 5)
        #expect(applied.domains["xyz.com"]?.users == ["carolyn", "dave"])
        #expect(ConfigurationChanges(from: old, to: old).changed.isEmpty)
    }

    /// A server started from a file: the file is rewritten and reloaded while a session is open.
    @Test func reloadReachesNewTransactionsAndABadFileChangesNothing() async throws {
        let dir = try TestPaths.temporaryDirectory("reload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/postie.toml"
        let original = Self.base.replacingOccurrences(of: "DATA", with: dir + "/data")
        try original.write(toFile: file, atomically: true, encoding: .utf8)
        let log = CapturedLog()
        let server = PostieServer(
            configuration: try ConfigurationLoader.load(file: file), logger: log.logger,
            reloadFrom: { try ConfigurationLoader.load(file: file) })
        let port = try await server.start()[0].port!
        do {
            let open = try LineClient(port: port)
            let before = try await blocking { () -> [String] in
                _ = open.readReply()
                open.send("EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<dave@xyz.com>\r\nRSET\r\n")
                return (0..<4).flatMap { _ in open.readReply() }.filter { $0.count > 3 && Array($0)[3] == " " }
            }
            #expect(before.last(where: { $0.hasPrefix("5") })?.hasPrefix("550 5.1.1") == true, "\(before)")

            let changed =
                original
                .replacingOccurrences(of: "users = [\"carolyn\"]", with: "users = [\"carolyn\", \"dave\"]")
                .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:1")
            try changed.write(toFile: file, atomically: true, encoding: .utf8)
            let report = await server.reload()
            #expect(report.ok)
            #expect(report.changed == ["domains.\"xyz.com\".users", "smtp.listen"])
            #expect(report.needRestart == ["smtp.listen"])
            #expect(log.text.contains("configuration reloaded changed=domains.\"xyz.com\".users,smtp.listen"))
            #expect(log.text.contains("these changes take effect only after a restart keys=smtp.listen"))

            // The session opened before the reload: its next transaction knows dave.
            let after = try await blocking { () -> [String] in
                open.send("MAIL FROM:<a@abcd.com>\r\nRCPT TO:<dave@xyz.com>\r\nQUIT\r\n")
                return (0..<3).flatMap { _ in open.readReply() }
            }
            #expect(after == ["250 2.1.0 Ok", "250 2.1.5 Ok", "221 2.0.0 Bye"])
            // A new session too, on the listener that was not moved.
            let fresh = try await blocking { () -> [String] in
                let c = try LineClient(port: port)
                _ = c.readReply()
                c.send("HELO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<dave@xyz.com>\r\n")
                return (0..<3).flatMap { _ in c.readReply() }
            }
            #expect(fresh.last == "250 2.1.5 Ok")

            // A file with an error is refused with file, line and key; dave stays.
            try (changed + "\n[smtp]\nmax_errors = \"many\"\n").write(toFile: file, atomically: true, encoding: .utf8)
            let bad = await server.reload()
            #expect(!bad.ok)
            #expect(bad.error?.contains("\(file):") == true, "\(bad.error ?? "")")
            try (changed.replacingOccurrences(of: "max_recipients = 100", with: "max_recipients = \"x\"")).write(
                toFile: file, atomically: true, encoding: .utf8)
            let badValue = await server.reload()
            #expect(badValue.error == "\(file):6: smtp.max_recipients: must be a whole number")
            #expect(log.text.contains("reload refused: the configuration has errors; the running one stays"))
            #expect(server.configuration.domains["xyz.com"]?.users.contains("dave") == true)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A new certificate is in use from the next handshake: at once after a reload, and within
    /// `tls.reload_interval` without one. A key that does not match is refused.
    @Test func aRenewedCertificateIsPickedUp() async throws {
        let dir = try TestPaths.temporaryDirectory("cert-reload")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func makeCertificate(_ name: String) throws {
            let made = try Subprocess.run([
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=\(name)", "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem",
            ])
            try #require(made.status == 0, "\(made.stderr)")
        }
        try makeCertificate("first")
        try makeCertificate("second")
        try makeCertificate("third")
        let copy = { (name: String) throws in
            // Replace, as certbot does: new files moved into place.
            for ext in ["pem", "key"] {
                try? FileManager.default.removeItem(atPath: "\(dir)/live.\(ext).tmp")
                try FileManager.default.copyItem(atPath: "\(dir)/\(name).\(ext)", toPath: "\(dir)/live.\(ext).tmp")
                _ = rename("\(dir)/live.\(ext).tmp", "\(dir)/live.\(ext)")
            }
        }
        try copy("first")
        let file = dir + "/postie.toml"
        try (Self.base.replacingOccurrences(of: "DATA", with: dir + "/data")
            + "\n[tls]\ncertificate = \"\(dir)/live.pem\"\nkey = \"\(dir)/live.key\"\nreload_interval = 1\n").write(
                toFile: file, atomically: true, encoding: .utf8)
        var quiet = Logger(label: "quiet")
        quiet.logLevel = .critical
        let server = PostieServer(
            configuration: try ConfigurationLoader.load(file: file), logger: quiet,
            reloadFrom: { try ConfigurationLoader.load(file: file) })
        let port = try await server.start()[0].port!
        // The subject's common name, read from the DER the server sent (no third-party module).
        let script = """
            import smtplib, ssl, sys, subprocess
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            der = s.sock.getpeercert(binary_form=True)
            s.quit()
            out = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', '-subject'], input=der, capture_output=True).stdout
            print(out.decode().strip())
            """
        func subject() throws -> String { try Subprocess.python(script, ["\(port)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        do {
            #expect(try subject().hasSuffix("CN = first"))
            try copy("second")
            let report = await server.reload()
            #expect(report.ok && report.changed.isEmpty)
            #expect(try subject().hasSuffix("CN = second"), "in use right after the reload")
            try copy("third")
            #expect(try await eventually(10) { (try? subject().hasSuffix("CN = third")) == true }, "in use within the interval")
            // A key of another certificate: refused (a reload reads the files at once), and the last
            // good pair stays.
            try FileManager.default.removeItem(atPath: "\(dir)/live.key")
            try FileManager.default.copyItem(atPath: "\(dir)/first.key", toPath: "\(dir)/live.key")
            _ = await server.reload()
            #expect(try subject().hasSuffix("CN = third"))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
