import Crypto
import CryptoExtras
import Foundation
import MailAuth
import Testing
import TestSupport

/// Signatures checked against RFC 8463 Appendix A (its keys, message and signatures) and against
/// their public keys; dkimpy's verdict is in `DKIMInteropTests`.
@Suite struct DKIMSignerTests {
    // RFC 8463 Appendix A.3: the message, with both of its signatures.
    static let rfc8463Message = [
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;",
        " d=football.example.com; i=@football.example.com;",
        " q=dns/txt; s=brisbane; t=1528637909; h=from : to :",
        " subject : date : message-id : from : subject : date;",
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
        " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus",
        " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;",
        " d=football.example.com; i=@football.example.com;",
        " q=dns/txt; s=test; t=1528637909; h=from : to : subject :",
        " date : message-id : from : subject : date;",
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
        " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3",
        " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz",
        " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=",
        "From: Joe SixPack <joe@football.example.com>",
        "To: Suzie Q <suzie@shopping.example.net>",
        "Subject: Is dinner ready?",
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
        "",
        "Hi.",
        "",
        "We lost the game.  Are you hungry yet?",
        "",
        "Joe.",
        "",
    ].joined(separator: "\r\n")
    // RFC 8463 Appendix A.2: the public keys.
    static let rfc8463Ed25519Public = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    static let rfc8463RSAPublic =
        "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"

    /// The hash a signature field was made over, by the rules the signer uses: the fields its
    /// h= names, relaxed, then the field itself without its b= value.
    static func signedHash(_ message: [UInt8], signature index: Int) -> (hash: SHA256.Digest, signature: [UInt8], tags: DKIMTags) {
        let section = RawHeaderSection(message)
        let signatures = section.fields.filter { $0.name.lowercased() == "dkim-signature" }
        let field = signatures[index]
        let tags = DKIMTags(field.value)
        let names = tags["h"]!.split(separator: ":").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        // c=header/body; the header's canonicalization applies here.
        let kind: DKIMCanonicalization.Kind = tags["c"]?.hasPrefix("relaxed") == true ? .relaxed : .simple
        let input = DKIMCanonicalization.headerInput(section.fields, names: names, signature: field.withoutSignatureValue, kind)
        let b = tags["b"]!.filter { !$0.isWhitespace }
        return (SHA256.hash(data: input), Array(Data(base64Encoded: b)!), tags)
    }

    static func bodyHash(_ message: [UInt8]) -> String {
        var hash = DKIMCanonicalization.RelaxedBodyHash()
        hash.update(message[RawHeaderSection(message).bodyOffset...])
        return Data(hash.finish()).base64EncodedString()
    }

    /// dkimpy's own test messages (its source distribution, Tests/Fixtures/dkimpy): RFC 6376's
    /// example signed `c=simple/simple` with RFC 8463's keys; Postie's simple canonicalization
    /// gives their body hash, and their signatures check out over its header input.
    @Test(arguments: ["rfc6376.signed.msg", "rfc6376.signed.rsa.msg"])
    func dkimpysSignedMessagesVerify(_ file: String) throws {
        let text = try String(contentsOfFile: TestPaths.packageRoot + "/Tests/Fixtures/dkimpy/" + file, encoding: .utf8)
        let message = Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        let section = RawHeaderSection(message)
        let count = section.fields.filter { $0.name.lowercased() == "dkim-signature" }.count
        #expect(count == (file == "rfc6376.signed.msg" ? 2 : 1))
        for index in 0..<count {
            let (hash, signature, tags) = Self.signedHash(message, signature: index)
            #expect(tags["c"] == "simple/simple")
            var body = DKIMCanonicalization.SimpleBodyHash()
            body.update(message[section.bodyOffset...])
            #expect(Data(body.finish()).base64EncodedString() == tags["bh"])
            switch tags["a"] {
            case "ed25519-sha256":
                let key = try Curve25519.Signing.PublicKey(rawRepresentation: Data(base64Encoded: Self.rfc8463Ed25519Public)!)
                #expect(key.isValidSignature(signature, for: Array(hash)))
            default:
                let key = try _RSA.Signing.PublicKey(unsafeDERRepresentation: Data(base64Encoded: Self.rfc8463RSAPublic)!)
                #expect(key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: hash, padding: .insecurePKCS1v1_5))
            }
        }
    }

    @Test func theRFC8463ExampleHasOurBodyHashAndBothSignaturesVerify() throws {
        let message = Array(Self.rfc8463Message.utf8)
        #expect(Self.bodyHash(message) == "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=")

        let ed = Self.signedHash(message, signature: 0)
        #expect(ed.tags["a"] == "ed25519-sha256")
        let edKey = try Curve25519.Signing.PublicKey(rawRepresentation: Data(base64Encoded: Self.rfc8463Ed25519Public)!)
        #expect(edKey.isValidSignature(ed.signature, for: Array(ed.hash)))

        let rsa = Self.signedHash(message, signature: 1)
        #expect(rsa.tags["a"] == "rsa-sha256")
        // The RFC's RSA key has 1024 bits: good enough to check our canonicalization with.
        let rsaKey = try _RSA.Signing.PublicKey(unsafeDERRepresentation: Data(base64Encoded: Self.rfc8463RSAPublic)!)
        #expect(rsaKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: rsa.signature), for: rsa.hash, padding: .insecurePKCS1v1_5))

        // And a change to a signed field breaks both.
        let tampered = Array(Self.rfc8463Message.replacingOccurrences(of: "Is dinner ready?", with: "Is dinner ready!").utf8)
        #expect(!edKey.isValidSignature(ed.signature, for: Array(Self.signedHash(tampered, signature: 0).hash)))
    }

    static let message = Array(
        [
            "From: Alice <alice@example.com>", "To: bob@example.org", "Subject: Hello", "Date: Sun, 6 Dec 2026 12:00:00 +0000",
            "Message-ID: <1@example.com>", "", "Hi Bob.  ", "", "",
        ].joined(separator: "\r\n").utf8)

    func sign(_ key: DKIMKey, _ message: [UInt8], expiry: Int? = nil) throws -> [UInt8] {
        let signer = DKIMSigner(domain: "Example.COM", selector: "s1", key: key, expiry: expiry)
        let section = RawHeaderSection(message)
        var hash = DKIMCanonicalization.RelaxedBodyHash()
        hash.update(message[section.bodyOffset...])
        return try signer.signatureField(fields: section.fields, bodyHash: hash.finish(), time: 1_800_000_000) + message
    }

    @Test(arguments: [DKIMAlgorithm.ed25519SHA256, .rsaSHA256])
    func ourSignaturesVerifyWithThePublishedKey(_ algorithm: DKIMAlgorithm) async throws {
        // Key generation (RSA: long in a debug build) off the cooperative threads.
        let key = try await blocking { try DKIMKey.generate(algorithm) }
        let signed = try sign(key, Self.message, expiry: 86400)
        let text = String(decoding: signed, as: UTF8.self)
        // Every line of the field is short and folded with whitespace.
        let fieldLines = text.components(separatedBy: "\r\n").prefix { !$0.hasPrefix("From:") }
        #expect(fieldLines.count > 3, "the field is folded")
        #expect(fieldLines.allSatisfy { $0.utf8.count <= 78 })
        #expect(fieldLines.dropFirst().allSatisfy { $0.hasPrefix("\t") })

        let (hash, signature, tags) = Self.signedHash(signed, signature: 0)
        #expect(tags["v"] == "1")
        #expect(tags["a"] == algorithm.rawValue)
        #expect(tags["c"] == "relaxed/relaxed")
        #expect(tags["d"] == "example.com")
        #expect(tags["s"] == "s1")
        #expect(tags["t"] == "1800000000")
        #expect(tags["x"] == "1800086400")
        #expect(tags["l"] == nil)
        #expect(tags["bh"] == Self.bodyHash(Self.message))
        let names = tags["h"]!.components(separatedBy: ":").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        // From once more than present; present fields once; absent ones once (oversigned).
        #expect(names.filter { $0 == "from" }.count == 2)
        #expect(names.filter { $0 == "subject" }.count == 1)
        #expect(names.contains("reply-to") && names.contains("list-unsubscribe"))
        #expect(!names.contains("dkim-signature") && !names.contains("received"))

        let record = DKIMTags(Array(key.record.utf8))
        #expect(record["k"] == algorithm.keyType)
        let p = Data(base64Encoded: record["p"]!)!
        switch algorithm {
        case .ed25519SHA256:
            #expect(try Curve25519.Signing.PublicKey(rawRepresentation: p).isValidSignature(signature, for: Array(hash)))
        case .rsaSHA256:
            let publicKey = try _RSA.Signing.PublicKey(derRepresentation: p)
            #expect(publicKey.keySizeInBits == 2048)
            #expect(publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: hash, padding: .insecurePKCS1v1_5))
        }
        #expect(DKIMSigner(domain: "example.com", selector: "s1", key: key).hasSigned(RawHeaderSection(signed).fields))
        #expect(!DKIMSigner(domain: "example.com", selector: "s2", key: key).hasSigned(RawHeaderSection(signed).fields))
    }

    @Test func keysReadBackFromTheirPEMAndShortOrForeignKeysAreRefused() async throws {
        for algorithm in DKIMAlgorithm.allCases {
            let key = try await blocking { try DKIMKey.generate(algorithm) }
            let again = try DKIMKey(pem: key.pemRepresentation)
            #expect(again.algorithm == algorithm)
            #expect(again.record == key.record)
        }
        // A 1024-bit RSA key (the RFC's example key) is named as too short.
        let short = try await blocking { try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)) }
        #expect(throws: DKIMKey.KeyError.self) { try DKIMKey(pem: short.pemRepresentation) }
        do {
            _ = try DKIMKey(pem: short.pemRepresentation)
        } catch let error as DKIMKey.KeyError {
            #expect(error.description.contains("1024 bits"))
        }
        #expect(throws: DKIMKey.KeyError.self) { try DKIMKey(pem: "not a key") }
        let p256 = P256.Signing.PrivateKey().pemRepresentation
        #expect(throws: DKIMKey.KeyError.self) { try DKIMKey(pem: p256) }
        #expect(throws: DKIMKey.KeyError.self) { try DKIMKey.generate(.rsaSHA256, bits: 1024) }
    }

    @Test func aLongRecordIsCutIntoStringsOf255Octets() async throws {
        // Making a 4096-bit key takes a while: off the cooperative threads.
        let key = try await blocking { try DKIMKey.generate(.rsaSHA256, bits: 4096) }
        let strings = key.recordStrings
        #expect(strings.count > 1)
        #expect(strings.allSatisfy { $0.utf8.count <= 255 })
        #expect(strings.joined() == key.record)
    }
}
