import Crypto
import Foundation

/// Adds an ARC set (RFC 8617) to a message we forward: `ARC-Authentication-Results` (what we found
/// when it came in), `ARC-Message-Signature` (a DKIM-like signature of the message as it leaves
/// us) and `ARC-Seal` (a signature over the sets). A receiver that trusts us can then believe the
/// results we saw even after the forwarding broke SPF. The first set says `cv=none`; a message
/// whose chain passed our validation gets the next set, `cv=pass`, its seal over every set. (A
/// failed chain is not extended: RFC 8617 §5.1.2 would have us seal only our own set, which no
/// receiver can use.)
public struct ARCSealer: Sendable {
    /// Domain, selector and key; RSA (receivers know rsa-sha256 for ARC, RFC 8617 §4.1.1).
    public var signer: DKIMSigner
    /// Our name in the results (RFC 8601 authserv-id): the host name.
    public var authservID: String

    public init(signer: DKIMSigner, authservID: String) {
        self.signer = signer
        self.authservID = authservID
    }

    /// Whether the message already has an ARC set.
    public static func hasChain(_ fields: [RawHeaderField]) -> Bool {
        fields.contains { $0.name.lowercased().hasPrefix("arc-") }
    }

    /// The sets a message has, in order (AAR, AMS, AS of instance 1, then 2, …); empty when it has
    /// none, nil when they do not form a chain (then it is not sealed).
    static func existingSets(_ fields: [RawHeaderField]) -> [RawHeaderField]? {
        switch ARCVerifier.read(fields) {
        case nil: return []
        case .failure?: return nil
        case .success(let chain)?:
            return (0..<chain.seals.count).flatMap { [chain.results[$0], chain.signatures[$0], chain.seals[$0].field] }
        }
    }

    /// `ARC-Authentication-Results: i=<n>; <authserv-id>; <results>` with CRLF.
    func resultsField(_ results: String, instance: Int) -> [UInt8] {
        Array("ARC-Authentication-Results: i=\(instance); \(authservID);\r\n\t\(results)\r\n".utf8)
    }

    /// The seal up to `b=`.
    func unsealedSeal(time: Int64, instance: Int) -> [UInt8] {
        let cv = instance == 1 ? "none" : "pass"
        return Array(
            ("ARC-Seal: i=\(instance); a=\(signer.key.algorithm.rawValue); t=\(time); cv=\(cv);\r\n\td=\(signer.domain); s=\(signer.selector);\r\n\tb=")
                .utf8)
    }

    /// The three fields, seal first, ending with CRLF: to go before the message. `results`: the
    /// resinfo of what was checked (`arc=none` when nothing was). A message with sets gets the
    /// next one: the caller has validated its chain (`ARCVerifier`), and seals only one that passed.
    public func seal(fields: [RawHeaderField], bodyHash: [UInt8], results: String, time: Int64) throws -> [UInt8] {
        guard let previous = Self.existingSets(fields), previous.count / 3 < ARCVerifier.maxInstances else {
            throw ARCSealError.chainUnusable
        }
        let instance = previous.count / 3 + 1
        let aar = resultsField(results, instance: instance)
        // The message signature covers what DKIM would (never ARC fields).
        let ams = try signer.signatureField(
            name: "ARC-Message-Signature", leading: "i=\(instance)", fields: fields, bodyHash: bodyHash, time: time)
        let unsealed = unsealedSeal(time: time, instance: instance)
        // RFC 8617 §5.1.1: every set in order, each its AAR, AMS and seal, then ours with the seal's
        // b= empty and without its CRLF; relaxed.
        var input: [UInt8] = []
        for field in previous { input += DKIMCanonicalization.relaxedHeader(field) }
        input += DKIMCanonicalization.relaxedHeader(RawHeaderField(name: "ARC-Authentication-Results", octets: Array(aar.dropLast(2))))
        input += DKIMCanonicalization.relaxedHeader(RawHeaderField(name: "ARC-Message-Signature", octets: Array(ams.dropLast(2))))
        input += DKIMCanonicalization.relaxedHeader(RawHeaderField(name: "ARC-Seal", octets: unsealed)).dropLast(2)
        let signature = try signer.key.sign(hash: SHA256.hash(data: input))
        let seal = unsealed + DKIMSigner.folded(Data(signature).base64EncodedString(), first: 2) + [13, 10]
        return seal + ams + aar
    }

    /// How many octets `seal` makes for these fields at this time.
    public func sealLength(fields: [RawHeaderField], results: String, time: Int64) -> Int {
        let instance = (Self.existingSets(fields)?.count ?? 0) / 3 + 1
        return resultsField(results, instance: instance).count
            + signer.signatureFieldLength(name: "ARC-Message-Signature", leading: "i=\(instance)", fields: fields, time: time)
            + unsealedSeal(time: time, instance: instance).count
            + DKIMSigner.folded(String(repeating: "A", count: signer.signatureBase64Length), first: 2).count + 2
    }
}

/// Why a message's chain cannot be extended.
public enum ARCSealError: Error, Equatable, CustomStringConvertible {
    /// Its ARC fields do not form a chain, or it has the most sets a chain may have.
    case chainUnusable

    public var description: String { "its ARC fields do not form a chain that can be extended" }
}
