import Crypto
import CryptoExtras
import Foundation

/// The outcome of one DKIM signature (RFC 8601 §2.7.1), with what Authentication-Results shows.
public struct DKIMResult: Sendable, Equatable {
    public enum Verdict: String, Sendable {
        case pass, fail, neutral, temperror, permerror
    }

    public var verdict: Verdict
    /// Why, when not `pass`.
    public var reason: String?
    /// `header.d`, `header.s`, `header.i`, `header.a`, `header.b` (the first 8 characters of b=).
    public var domain: String?
    public var selector: String?
    public var identity: String?
    public var algorithm: String?
    public var signaturePrefix: String?
    /// The key record says the domain is testing (`t=y`).
    public var testing = false
    /// The signature covers only the first `l=` octets of the body.
    public var bodyLength: Int?

    public init(
        verdict: Verdict, reason: String? = nil, domain: String? = nil, selector: String? = nil, identity: String? = nil,
        algorithm: String? = nil, signaturePrefix: String? = nil, bodyLength: Int? = nil
    ) {
        self.verdict = verdict
        self.reason = reason
        self.domain = domain
        self.selector = selector
        self.identity = identity
        self.algorithm = algorithm
        self.signaturePrefix = signaturePrefix
        self.bodyLength = bodyLength
    }
}

/// What a key lookup gave: the TXT records at the name (strings joined), none, or a failure.
public enum DKIMKeyAnswer: Sendable {
    case records([[UInt8]])
    case notFound
    case temporary(String)
}

/// Verifies the DKIM signatures of a message as it streams in (RFC 6376 §6, RFC 8463, RFC 8301):
/// the header section is kept, the body hashed once for each canonicalization and length the
/// signatures ask for, so a large message is never held or read twice. Once the header section
/// has ended, `keyNames` says which keys to look up; `finish` gives one result per signature
/// (the first `maxSignatures` of them). Pure: the caller does the lookups and gives the time.
public struct DKIMVerifier: Sendable {
    public static let maxSignatures = 5

    private var capture = HeaderCapture(limit: MessageSigner.headerLimit)
    private var parsed: [Result<DKIMSignatureField, DKIMProblem>] = []
    private struct BodyKey: Hashable {
        var canonicalization: DKIMCanonicalization.Kind
        var length: Int?

        init(_ s: DKIMSignatureField) { (canonicalization, length) = (s.bodyCanonicalization, s.bodyLength) }
    }
    private var bodies: [BodyKey: DKIMCanonicalization.BodyHash] = [:]

    public init() {}

    public mutating func update(_ bytes: some Collection<UInt8>) {
        let inHeader = capture.section == nil
        guard let body = capture.add(bytes) else { return }
        if inHeader { readSignatures() }
        for key in bodies.keys { bodies[key]!.update(body) }
    }

    private mutating func readSignatures() {
        let fields = capture.section?.fields.filter { $0.name.lowercased() == "dkim-signature" } ?? []
        parsed = fields.prefix(Self.maxSignatures).map { DKIMSignatureField.parse($0) }
        for case .success(let s) in parsed where bodies[BodyKey(s)] == nil {
            bodies[BodyKey(s)] = DKIMCanonicalization.BodyHash(s.bodyCanonicalization, limit: s.bodyLength)
        }
    }

    /// The key records to look up (`<selector>._domainkey.<domain>`), once the header section has
    /// ended; empty before, or when nothing is signed.
    public var keyNames: [String] {
        var names: [String] = []
        for case .success(let s) in parsed where !names.contains(s.keyName) { names.append(s.keyName) }
        return names
    }

    /// The header section, once it has ended (or the data has, `endOfData`).
    public var header: RawHeaderSection? { capture.section }

    /// The end of the data: a message without a body has its header section end here.
    public mutating func endOfData() {
        if capture.section == nil {
            capture.end()
            readSignatures()
        }
    }

    /// Whether the message has any signature at all (else the result is `dkim=none`).
    public var isSigned: Bool {
        capture.section?.fields.contains { $0.name.lowercased() == "dkim-signature" } ?? false
    }

    /// One result per signature, in the message's order. `keys`: the answer for each of
    /// `keyNames`; `now`: seconds since 1970, for `x=`.
    public consuming func finish(keys: [String: DKIMKeyAnswer], now: Int64) -> [DKIMResult] {
        if capture.section == nil {
            capture.end()
            readSignatures()
        }
        let hashes = bodies.mapValues { $0.finish() }
        let fields = capture.section?.fields ?? []
        return parsed.map { parsed in
            switch parsed {
            case .failure(let problem):
                return DKIMResult(verdict: .permerror, reason: problem.description)
            case .success(let signature):
                let bodyHash = hashes[BodyKey(signature)] ?? []
                return Self.verify(signature, fields: fields, bodyHash: bodyHash, key: keys[signature.keyName], now: now)
            }
        }
    }

    static func verify(_ s: DKIMSignatureField, fields: [RawHeaderField], bodyHash: [UInt8], key: DKIMKeyAnswer?, now: Int64) -> DKIMResult {
        var result = DKIMResult(
            verdict: .fail, domain: s.domain, selector: s.selector, identity: s.identity, algorithm: s.algorithm,
            signaturePrefix: String(s.signatureText.prefix(8)), bodyLength: s.bodyLength)
        func outcome(_ verdict: DKIMResult.Verdict, _ reason: String?) -> DKIMResult {
            result.verdict = verdict
            result.reason = reason
            return result
        }
        // RFC 8301 §3.1: rsa-sha1 signatures are not valid.
        if s.algorithm == "rsa-sha1" { return outcome(.fail, "rsa-sha1 is not accepted (RFC 8301)") }
        if let x = s.expiry, x < now { return outcome(.fail, "signature expired") }
        let record: DKIMKeyRecord
        switch readKey(key, name: s.keyName, algorithm: s.algorithm) {
        case .failure(let problem): return outcome(problem.verdict, problem.reason)
        case .success(let r): record = r
        }
        result.testing = record.testing
        if record.strict, s.identityDomain != s.domain { return outcome(.permerror, "i= must be in d= itself (t=s)") }
        guard bodyHash == s.bodyHash else { return outcome(.fail, "body hash did not verify") }
        let input = DKIMCanonicalization.headerInput(fields, names: s.signedNames, signature: s.field.withoutSignatureValue, s.headerCanonicalization)
        let (verdict, reason) = check(s.signature, over: input, key: record)
        return outcome(verdict, reason)
    }

    /// Why a key cannot check a signature: the verdict and the reason.
    struct KeyProblem: Error {
        var verdict: DKIMResult.Verdict
        var reason: String
    }

    /// The key record for a signature by `algorithm` (RFC 6376 §3.6.2.2, §6.1.2), from what the
    /// lookup of `name` gave; shared by DKIM signatures, ARC message signatures and ARC seals.
    static func readKey(_ answer: DKIMKeyAnswer?, name: String, algorithm: String) -> Result<DKIMKeyRecord, KeyProblem> {
        let record: DKIMKeyRecord
        switch answer ?? .temporary("key not looked up") {
        case .temporary(let why): return .failure(KeyProblem(verdict: .temperror, reason: "key lookup: \(why)"))
        case .notFound: return .failure(KeyProblem(verdict: .permerror, reason: "no key at \(name)"))
        case .records(let records):
            // The first record that reads as a DKIM key counts (RFC 6376 §3.6.2.2); when none
            // does, the first one's problem is the reason.
            let read = records.map(DKIMKeyRecord.parse)
            guard let chosen = read.first(where: { (try? $0.get()) != nil }) ?? read.first else {
                return .failure(KeyProblem(verdict: .permerror, reason: "no key at \(name)"))
            }
            switch chosen {
            case .failure(let problem): return .failure(KeyProblem(verdict: .permerror, reason: problem.description))
            case .success(let r): record = r
            }
        }
        if record.publicKey.isEmpty { return .failure(KeyProblem(verdict: .permerror, reason: "key revoked")) }
        let wanted = algorithm == "ed25519-sha256" ? "ed25519" : "rsa"
        guard record.keyType == wanted else {
            return .failure(KeyProblem(verdict: .permerror, reason: "key type \(record.keyType) for a=\(algorithm)"))
        }
        if let hashes = record.hashes, !hashes.contains("sha256") {
            return .failure(KeyProblem(verdict: .permerror, reason: "the key does not allow sha256"))
        }
        return .success(record)
    }

    /// Whether `signature` is the key's over the SHA-256 of `input`.
    static func check(_ signature: [UInt8], over input: [UInt8], key record: DKIMKeyRecord) -> (DKIMResult.Verdict, String?) {
        let hash = SHA256.hash(data: input)
        if record.keyType == "ed25519" {
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: record.publicKey) else {
                return (.permerror, "the Ed25519 key does not read")
            }
            return key.isValidSignature(signature, for: Array(hash)) ? (.pass, nil) : (.fail, "signature did not verify")
        }
        guard let key = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: record.publicKey) else {
            // Also below 1024 bits, which the library refuses to read.
            return (.fail, "the RSA key does not read or is shorter than 1024 bits")
        }
        guard key.keySizeInBits >= 1024 else { return (.fail, "RSA key of \(key.keySizeInBits) bits (RFC 8301: 1024 at least)") }
        let valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: hash, padding: .insecurePKCS1v1_5)
        return valid ? (.pass, nil) : (.fail, "signature did not verify")
    }
}
