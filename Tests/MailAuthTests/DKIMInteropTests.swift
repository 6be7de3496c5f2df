import Foundation
import MailAuth
import Testing
import TestSupport

/// Postie's signatures as an independent verifier sees them: dkimpy (PyPI), the key records
/// served by the tests' DNS server.
@Suite struct DKIMInteropTests {
    static let message = [
        "From: Alice <alice@example.com>", "To: Bob <bob@example.org>", "Cc: carol@example.org",
        "Subject: Lunch,\r\n on Friday?", "Date: Sun, 6 Dec 2026 12:00:00 +0000", "Message-ID: <lunch.1@example.com>",
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "",
        "Hi Bob,  \t", "", "shall we?\t ", "", "", "",
    ].joined(separator: "\r\n")

    /// Signs with each key in turn, each signature put on top of the last (as dual signing does).
    func signed(_ message: String, _ signers: [DKIMSigner]) throws -> String {
        var octets = Array(message.utf8)
        for signer in signers {
            let section = RawHeaderSection(octets)
            var hash = DKIMCanonicalization.RelaxedBodyHash()
            hash.update(octets[section.bodyOffset...])
            octets = try signer.signatureField(fields: section.fields, bodyHash: hash.finish(), time: Int64(Date().timeIntervalSince1970)) + octets
        }
        return String(decoding: octets, as: UTF8.self)
    }

    func dkimpy(_ message: String, dns: TestDNSServer) throws -> ProcessResult {
        try Subprocess.run(["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)"], stdin: message)
    }

    @Test func dkimpyVerifiesRSAEd25519AndDualSignatures() throws {
        let rsa = DKIMSigner(domain: "example.com", selector: "rsa2026", key: try DKIMKey.generate(.rsaSHA256), expiry: 7 * 86400)
        let ed = DKIMSigner(domain: "example.com", selector: "ed2026", key: try DKIMKey.generate(.ed25519SHA256))
        // The RSA record is longer than 255 octets: served as several strings, which dkimpy joins.
        let dns = try TestDNSServer(zone: [
            "rsa2026._domainkey.example.com": ["TXT": [rsa.key.record]],
            "ed2026._domainkey.example.com": ["TXT": [ed.key.record]],
        ])
        for signers in [[rsa], [ed], [rsa, ed]] {
            let result = try dkimpy(try signed(Self.message, signers), dns: dns)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" pass ") }.count == signers.count, "\(result.stdout)")
        }
        // The same check fails a message changed after signing (the test can fail).
        let changed = try signed(Self.message, [rsa, ed]).replacingOccurrences(of: "shall we?", with: "shall we!")
        let result = try dkimpy(changed, dns: dns)
        #expect(result.status == 1)
        #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" fail ") }.count == 2, "\(result.stdout) \(result.stderr)")
    }
}
