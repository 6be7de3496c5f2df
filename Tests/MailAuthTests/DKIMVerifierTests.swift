import Crypto
import CryptoExtras
import Foundation
import MailAuth
import Testing
import TestSupport

/// Postie's DKIM verifier against signatures made by others (dkimpy, RFC 8463's example, dkimpy's
/// own test messages) and by itself, and against what must fail.
@Suite struct DKIMVerifierTests {
    static func verify(_ message: [UInt8], keys: [String: DKIMKeyAnswer], now: Int64 = 1_900_000_000, chunk: Int = .max) -> [DKIMResult] {
        var verifier = DKIMVerifier()
        var rest = message[...]
        while !rest.isEmpty {
            verifier.update(rest.prefix(chunk))
            rest = rest.dropFirst(chunk)
        }
        return verifier.finish(keys: keys, now: now)
    }

    static func record(_ text: String) -> DKIMKeyAnswer { .records([Array(text.utf8)]) }

    static let message = Array(
        [
            "From: Alice <alice@example.org>", "To: bob@example.net", "Subject: Lunch?\t ", "Date: Sun, 6 Dec 2026 12:00:00 +0000", "",
            "Shall we  meet at noon?  ", "", "", "",
        ].joined(separator: "\r\n").utf8)

    /// dkimpy signs with each canonicalization, RSA and Ed25519, with and without l=.
    @Test(arguments: ["simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed"])
    func dkimpySignaturesVerify(_ canon: String) async throws {
        let dir = try TestPaths.temporaryDirectory("dkim-verify")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rsa = try await blocking { try DKIMKey.generate(.rsaSHA256) }
        try rsa.pemRepresentation.write(toFile: dir + "/rsa.pem", atomically: true, encoding: .utf8)
        for (kind, length) in [("rsa", "0"), ("ed25519", "0"), ("rsa", "1")] {
            let message = String(decoding: Self.message, as: UTF8.self)
            let out = try await blocking {
                try Subprocess.run(
                    ["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_sign.py", kind, dir + "/rsa.pem", canon, length], stdin: message)
            }
            #expect(out.status == 0, "\(out.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as! [String: Any]
            let signed = Array((json["signed"] as! String).utf8)
            let record = (json["record"] as? String) ?? rsa.record
            for chunk in [Int.max, 7] {
                let results = Self.verify(signed, keys: ["py._domainkey.example.org": Self.record(record)], chunk: chunk)
                #expect(results.count == 1)
                #expect(results.first?.verdict == .pass, "\(kind) \(canon) l=\(length): \(results)")
                #expect(results.first?.domain == "example.org" && results.first?.selector == "py")
                #expect((results.first?.bodyLength != nil) == (length == "1"))
            }
            // A change to the body fails it; with l=, text added after the signed part does not
            // (the risk l= carries, shown in the result's bodyLength).
            let changed = String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "noon", with: "nine")
            #expect(Self.verify(Array(changed.utf8), keys: ["py._domainkey.example.org": Self.record(record)]).first?.verdict == .fail)
            if length == "1" {
                let appended = signed + Array("P.S. wire the money\r\n".utf8)
                let result = Self.verify(appended, keys: ["py._domainkey.example.org": Self.record(record)]).first
                #expect(result?.verdict == .pass)
                #expect(result?.bodyLength != nil)
            }
        }
    }

    @Test func theRFC8463ExampleAndDkimpysTestMessagesVerify() throws {
        let keys: [String: DKIMKeyAnswer] = [
            "brisbane._domainkey.football.example.com": Self.record("v=DKIM1; k=ed25519; p=\(DKIMSignerTests.rfc8463Ed25519Public)"),
            // RFC 8463's RSA key has 1024 bits: allowed for verifying (RFC 8301).
            "test._domainkey.football.example.com": Self.record("v=DKIM1; k=rsa; p=\(DKIMSignerTests.rfc8463RSAPublic)"),
        ]
        let rfc = Self.verify(Array(DKIMSignerTests.rfc8463Message.utf8), keys: keys)
        #expect(rfc.map(\.verdict) == [.pass, .pass])
        #expect(rfc.map(\.algorithm) == ["ed25519-sha256", "rsa-sha256"])
        for file in ["rfc6376.signed.msg", "rfc6376.signed.rsa.msg"] {
            let text = try String(contentsOfFile: TestPaths.packageRoot + "/Tests/Fixtures/dkimpy/" + file, encoding: .utf8)
            let results = Self.verify(Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8), keys: keys)
            #expect(!results.isEmpty && results.allSatisfy { $0.verdict == .pass }, "\(file): \(results)")
        }
    }

    @Test func ourOwnSignaturesVerifyAndEveryKindOfFailureIsNamed() throws {
        let key = try DKIMKey(ed25519Seed: Array(repeating: 9, count: 32))
        let signer = DKIMSigner(domain: "example.org", selector: "s", key: key, expiry: 3600)
        let section = RawHeaderSection(Self.message)
        var body = DKIMCanonicalization.RelaxedBodyHash()
        body.update(Self.message[section.bodyOffset...])
        let signed = try signer.signatureField(fields: section.fields, bodyHash: body.finish(), time: 1_800_000_000) + Self.message
        let name = "s._domainkey.example.org"
        func verdict(_ answer: DKIMKeyAnswer?, now: Int64 = 1_800_000_100, message: [UInt8]? = nil) -> (DKIMResult.Verdict, String?) {
            let r = Self.verify(message ?? signed, keys: answer.map { [name: $0] } ?? [:], now: now).first!
            return (r.verdict, r.reason)
        }
        #expect(verdict(Self.record(key.record)).0 == .pass)
        #expect(verdict(Self.record(key.record), now: 1_800_003_601) == (.fail, "signature expired"))
        #expect(verdict(.notFound) == (.permerror, "no key at s._domainkey.example.org"))
        #expect(verdict(.temporary("SERVFAIL")).0 == .temperror)
        #expect(verdict(Self.record("v=DKIM1; k=ed25519; p=")) == (.permerror, "key revoked"))
        #expect(verdict(Self.record("v=DKIM1; k=rsa; p=\(DKIMSignerTests.rfc8463RSAPublic)")).0 == .permerror)
        #expect(verdict(Self.record("v=DKIM1; k=ed25519; s=other; p=\(key.publicKeyBase64)")).0 == .permerror)
        #expect(verdict(Self.record("v=DKIM1; k=ed25519; h=sha1; p=\(key.publicKeyBase64)")).0 == .permerror)
        // t=y is noted, the verdict stands.
        let testing = Self.verify(signed, keys: [name: Self.record("v=DKIM1; k=ed25519; t=y; p=\(key.publicKeyBase64)")], now: 1_800_000_100)
        #expect(testing.first?.verdict == .pass && testing.first?.testing == true)
        // Another key with the same name: the signature does not verify.
        let other = try DKIMKey(ed25519Seed: Array(repeating: 8, count: 32))
        #expect(verdict(Self.record(other.record)) == (.fail, "signature did not verify"))
        // A header field changed: the signature fails (the body hash still matches).
        let retitled = Array(String(decoding: signed, as: UTF8.self).replacingOccurrences(of: "Subject: Lunch?", with: "Subject: Lunch!").utf8)
        #expect(verdict(Self.record(key.record), message: retitled) == (.fail, "signature did not verify"))
    }

    @Test(arguments: [
        ("v=1; a=rsa-sha1; c=relaxed/relaxed; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", DKIMResult.Verdict.fail),
        ("v=1; a=rsa-sha256; d=example.org; s=s; h=subject; bh=AAAA; b=AAAA", .permerror),
        ("v=2; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", .permerror),
        ("v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA; i=x@evil.example", .permerror),
        ("v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA; t=10; x=5", .permerror),
        ("v=1; a=rsa-sha256; a=ed25519-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", .permerror),
        ("v=1; a=hmac; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", .permerror),
        ("v=1; a=rsa-sha256; c=odd; d=example.org; s=s; h=from; bh=AAAA; b=AAAA", .permerror),
        ("v=1; a=rsa-sha256; d=example.org; h=from; bh=AAAA; b=AAAA", .permerror),
    ])
    func malformedOrRefusedSignaturesAreNamed(_ tags: String, _ verdict: DKIMResult.Verdict) {
        let message = Array("DKIM-Signature: \(tags)\r\n".utf8) + Self.message
        let result = Self.verify(message, keys: ["s._domainkey.example.org": .notFound]).first
        #expect(result?.verdict == verdict, "\(tags): \(String(describing: result))")
        #expect(result?.reason?.isEmpty == false)
    }

    @Test func onlyTheFirstFiveSignaturesAreLookedAt() {
        let one = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA\r\n"
        var verifier = DKIMVerifier()
        verifier.update(Array((String(repeating: one, count: 8)).utf8) + Self.message)
        #expect(verifier.isSigned)
        #expect(verifier.keyNames == ["s._domainkey.example.org"])
        #expect(verifier.finish(keys: [:], now: 0).count == DKIMVerifier.maxSignatures)
        var unsigned = DKIMVerifier()
        unsigned.update(Self.message)
        #expect(!unsigned.isSigned && unsigned.keyNames.isEmpty)
    }
}
