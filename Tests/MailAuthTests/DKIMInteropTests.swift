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

    /// dkimpy's verdict, and the DNS server, off the cooperative threads (parallel tests share
    /// them; blocking them starves the others).
    static func dkimpy(_ message: String, dns: TestDNSServer, arc: Bool = false) async throws -> ProcessResult {
        try await blocking {
            try Subprocess.run(
                ["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)"] + (arc ? ["--arc"] : []), stdin: message)
        }
    }

    static func dnsServer(_ records: [String: String]) async throws -> TestDNSServer {
        try await blocking { try TestDNSServer(zone: records.mapValues { ["TXT": [$0]] }) }
    }

    @Test func dkimpyVerifiesRSAEd25519AndDualSignatures() async throws {
        let rsaKey = try await blocking { try DKIMKey.generate(.rsaSHA256) }
        let rsa = DKIMSigner(domain: "example.com", selector: "rsa2026", key: rsaKey, expiry: 7 * 86400)
        let ed = DKIMSigner(domain: "example.com", selector: "ed2026", key: try DKIMKey.generate(.ed25519SHA256))
        // The RSA record is longer than 255 octets: served as several strings, which dkimpy joins.
        let dns = try await Self.dnsServer(["rsa2026._domainkey.example.com": rsa.key.record, "ed2026._domainkey.example.com": ed.key.record])
        for signers in [[rsa], [ed], [rsa, ed]] {
            let result = try await Self.dkimpy(try signed(Self.message, signers), dns: dns)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" pass ") }.count == signers.count, "\(result.stdout)")
        }
        // The same check fails a message changed after signing (the test can fail).
        let changed = try signed(Self.message, [rsa, ed]).replacingOccurrences(of: "shall we?", with: "shall we!")
        let result = try await Self.dkimpy(changed, dns: dns)
        #expect(result.status == 1)
        #expect(result.stdout.components(separatedBy: "\n").filter { $0.contains(" fail ") }.count == 2, "\(result.stdout) \(result.stderr)")
    }
}

/// ARC sets as dkimpy's ARC verifier sees them.
@Suite struct ARCInteropTests {
    func sealed(_ message: String, _ sealer: ARCSealer, time: Int64) throws -> String {
        let octets = Array(message.utf8)
        let section = RawHeaderSection(octets)
        var hash = DKIMCanonicalization.RelaxedBodyHash()
        hash.update(octets[section.bodyOffset...])
        let fields = try sealer.seal(fields: section.fields, bodyHash: hash.finish(), results: "arc=none", time: time)
        #expect(fields.count == sealer.sealLength(fields: section.fields, results: "arc=none", time: time))
        return String(decoding: fields + octets, as: UTF8.self)
    }

    @Test func dkimpyValidatesTheChainWeStartAndFailsAChangedMessage() async throws {
        let key = try await blocking { try DKIMKey.generate(.rsaSHA256) }
        let signer = DKIMSigner(domain: "forwarder.example", selector: "arc2026", key: key)
        let sealer = ARCSealer(signer: signer, authservID: "mx.forwarder.example")
        let dns = try await DKIMInteropTests.dnsServer(["arc2026._domainkey.forwarder.example": signer.key.record])
        let message = try sealed(DKIMInteropTests.message, sealer, time: Int64(Date().timeIntervalSince1970))
        #expect(message.hasPrefix("ARC-Seal: i=1; a=rsa-sha256; t="))
        #expect(message.contains("\r\nARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"))
        #expect(message.contains("\r\nARC-Authentication-Results: i=1; mx.forwarder.example;\r\n\tarc=none\r\n"))
        let result = try await DKIMInteropTests.dkimpy(message, dns: dns, arc: true)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.hasPrefix("arc pass"), "\(result.stdout)")
        let changed = message.replacingOccurrences(of: "shall we?", with: "shall we!")
        let failed = try await DKIMInteropTests.dkimpy(changed, dns: dns, arc: true)
        #expect(failed.status == 1, "\(failed.stdout) \(failed.stderr)")
        #expect(failed.stdout.hasPrefix("arc fail"), "\(failed.stdout)")
    }
}
