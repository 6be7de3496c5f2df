import Foundation
import MailAuth
import TestSupport
import Testing

/// ARC chains sealed by dkimpy (one set, then a second by another domain) and by our own sealer,
/// validated by `ARCVerifier`; dkimpy's verifier agrees on each, tampered or not.
@Suite(.serialized) struct ARCVerifierTests {
    struct Keys {
        var directory: String
        var answers: [String: DKIMKeyAnswer]
        var zone: [String: [String: [String]]]
    }

    static func makeKeys() throws -> Keys {
        let directory = try TestPaths.temporaryDirectory("arc-keys")
        var answers: [String: DKIMKeyAnswer] = [:]
        var zone: [String: [String: [String]]] = [:]
        for domain in ["lists.test", "fwd.test"] {
            let key = try DKIMKey.generate(.rsaSHA256)
            try key.pemRepresentation.write(toFile: "\(directory)/\(domain).pem", atomically: true, encoding: .utf8)
            answers["s._domainkey.\(domain)"] = .records([Array(key.record.utf8)])
            zone["s._domainkey.\(domain)"] = ["TXT": [key.record]]
        }
        return Keys(directory: directory, answers: answers, zone: zone)
    }

    static let base = "Authentication-Results: lists.test; spf=pass smtp.mailfrom=a.test\r\n"
        + "From: Ann <ann@a.test>\r\nTo: list@lists.test\r\nSubject: chains\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHello, list.\r\n"

    func seal(_ message: String, _ keys: Keys, domain: String) async throws -> String {
        let path = "\(keys.directory)/\(domain).pem"
        let run = try await blocking {
            try Subprocess.run(["python3", TestPaths.packageRoot + "/Tests/Scripts/arc_sign.py", path, domain, "s", domain], stdin: message)
        }
        try #require(run.status == 0, "\(run.stderr)")
        return run.stdout
    }

    func ours(_ message: String, _ keys: Keys) -> ARCOutcome {
        var verifier = ARCVerifier()
        // In pieces, as DATA brings it.
        var rest = Array(message.utf8)[...]
        while !rest.isEmpty {
            verifier.update(rest.prefix(7))
            rest = rest.dropFirst(7)
        }
        verifier.endOfData()
        return verifier.finish(keys: keys.answers, now: Int64(Date().timeIntervalSince1970))
    }

    func dkimpy(_ message: String, _ dns: TestDNSServer) async throws -> Bool {
        let run = try await blocking {
            try Subprocess.run(["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)", "--arc"], stdin: message)
        }
        if run.status != 0 { print("dkimpy: \(run.stdout) \(run.stderr)") }
        return run.status == 0
    }

    @Test func chainsSealedByDkimpyValidateAndTamperingFails() async throws {
        let keys = try await blocking { try Self.makeKeys() }
        defer { try? FileManager.default.removeItem(atPath: keys.directory) }
        let zone = keys.zone
        let dns = try await blocking { try TestDNSServer(zone: zone) }

        #expect(ours(Self.base, keys) == ARCOutcome(result: .none))

        let one = try await seal(Self.base, keys, domain: "lists.test")
        #expect(ours(one, keys) == ARCOutcome(result: .pass, instances: 1, sealers: ["lists.test"]))
        #expect(try await dkimpy(one, dns))

        let two = try await seal("Authentication-Results: fwd.test; arc=pass\r\n" + one, keys, domain: "fwd.test")
        #expect(ours(two, keys) == ARCOutcome(result: .pass, instances: 2, sealers: ["lists.test", "fwd.test"]))
        #expect(try await dkimpy(two, dns))

        // Our sealer extends the passing chain with a third set; both verifiers accept it.
        let pem = try String(contentsOfFile: "\(keys.directory)/fwd.test.pem", encoding: .utf8)
        let sealer = ARCSealer(signer: DKIMSigner(domain: "fwd.test", selector: "s", key: try DKIMKey(pem: pem)), authservID: "mx.fwd.test")
        let chain = ours(two, keys)
        var third = MessageSigner(.arc(sealer, results: String(repeating: "x", count: 300)))
        third.update(Array(two.utf8))
        let now = Int64(Date().timeIntervalSince1970)
        let planned = try #require(third.plannedLength(time: now))
        let fields = try third.finish(time: now, results: "arc=pass", chain: chain).get()
        #expect(fields.count <= planned)
        let three = String(decoding: fields, as: UTF8.self) + two
        #expect(three.hasPrefix("ARC-Seal: i=3; a=rsa-sha256; t=\(now); cv=pass;"))
        #expect(ours(three, keys) == ARCOutcome(result: .pass, instances: 3, sealers: ["lists.test", "fwd.test", "fwd.test"]))
        #expect(try await dkimpy(three, dns))
        // One that did not pass is not extended.
        var refused = MessageSigner(.arc(sealer, results: "arc=fail"))
        refused.update(Array(two.utf8))
        #expect(refused.finish(time: 1_800_000_000, results: "arc=fail", chain: ARCOutcome(result: .fail)) == .failure(.arcChainFailed))

        // The body changed after the newest set: its message signature fails.
        let tamperedBody = two.replacing("Hello, list.", with: "Hello, list!")
        let a = ours(tamperedBody, keys)
        #expect(a.result == .fail && a.reason?.contains("ARC-Message-Signature i=2") == true, "\(a)")
        #expect(try await dkimpy(tamperedBody, dns) == false)

        // The first set's results changed: the seals over them fail.
        let tamperedResults = two.replacing("smtp.mailfrom=a.test", with: "smtp.mailfrom=b.test")
        let b = ours(tamperedResults, keys)
        #expect(b.result == .fail && b.reason?.contains("ARC-Seal") == true, "\(b)")
        #expect(try await dkimpy(tamperedResults, dns) == false)

        // A set without its results field is no chain.
        let incomplete = two.components(separatedBy: "\r\n").filter { !$0.hasPrefix("ARC-Authentication-Results: i=1") }
            .joined(separator: "\r\n")
        #expect(ours(incomplete, keys).result == .fail)
        withExtendedLifetime(dns) {}
    }

    @Test func aChainOfOurOwnSealerValidates() async throws {
        let keys = try await blocking { try Self.makeKeys() }
        defer { try? FileManager.default.removeItem(atPath: keys.directory) }
        let pem = try String(contentsOfFile: "\(keys.directory)/fwd.test.pem", encoding: .utf8)
        let sealer = ARCSealer(signer: DKIMSigner(domain: "fwd.test", selector: "s", key: try DKIMKey(pem: pem)), authservID: "mx.fwd.test")
        var signer = MessageSigner(.arc(sealer, results: "planned"))
        signer.update(Array(Self.base.utf8))
        let fields = try signer.finish(time: Int64(Date().timeIntervalSince1970), results: "spf=pass smtp.mailfrom=a.test").get()
        let sealed = String(decoding: fields, as: UTF8.self) + Self.base
        #expect(sealed.contains("ARC-Authentication-Results: i=1; mx.fwd.test;\r\n\tspf=pass smtp.mailfrom=a.test\r\n"))
        #expect(ours(sealed, keys) == ARCOutcome(result: .pass, instances: 1, sealers: ["fwd.test"]))
        // A seal that says the chain had failed fails it.
        #expect(ours(sealed.replacing("cv=none", with: "cv=fail"), keys).result == .fail)
    }
}
