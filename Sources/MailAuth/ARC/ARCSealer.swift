import Crypto
import Foundation

/// Adds the first ARC set (RFC 8617) to a message we forward: `ARC-Authentication-Results` (what
/// we found when it came in), `ARC-Message-Signature` (a DKIM-like signature of the message as it
/// leaves us) and `ARC-Seal` (a signature over the set, `cv=none` as the first). A receiver that
/// trusts us can then believe the results we saw even after the forwarding broke SPF. Messages
/// that already carry ARC sets are not sealed: extending a chain needs its validation first.
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

    /// `ARC-Authentication-Results: i=1; <authserv-id>; <results>` with CRLF.
    func resultsField(_ results: String) -> [UInt8] {
        Array("ARC-Authentication-Results: i=1; \(authservID);\r\n\t\(results)\r\n".utf8)
    }

    /// The seal up to `b=`.
    func unsealedSeal(time: Int64) -> [UInt8] {
        Array(
            ("ARC-Seal: i=1; a=\(signer.key.algorithm.rawValue); t=\(time); cv=none;\r\n\td=\(signer.domain); s=\(signer.selector);\r\n\tb=")
                .utf8)
    }

    /// The three fields, seal first, ending with CRLF: to go before the message.
    /// `results`: the resinfo of what was checked (`arc=none` when nothing was).
    public func seal(fields: [RawHeaderField], bodyHash: [UInt8], results: String, time: Int64) throws -> [UInt8] {
        let aar = resultsField(results)
        let ams = try signer.signatureField(name: "ARC-Message-Signature", leading: "i=1", fields: fields, bodyHash: bodyHash, time: time)
        let unsealed = unsealedSeal(time: time)
        // RFC 8617 §5.1.1: the sets in order (here the one), its AAR and AMS, then the seal with
        // b= empty; relaxed.
        let set = [
            RawHeaderField(name: "ARC-Authentication-Results", octets: Array(aar.dropLast(2))),
            RawHeaderField(name: "ARC-Message-Signature", octets: Array(ams.dropLast(2))),
        ]
        let input = DKIMCanonicalization.headerInput(
            set, names: set.map { $0.name.lowercased() }, signature: RawHeaderField(name: "ARC-Seal", octets: unsealed), .relaxed)
        let signature = try signer.key.sign(hash: SHA256.hash(data: input))
        let seal = unsealed + DKIMSigner.folded(Data(signature).base64EncodedString(), first: 2) + [13, 10]
        return seal + ams + aar
    }

    /// How many octets `seal` makes for these fields at this time.
    public func sealLength(fields: [RawHeaderField], results: String, time: Int64) -> Int {
        resultsField(results).count
            + signer.signatureFieldLength(name: "ARC-Message-Signature", leading: "i=1", fields: fields, time: time)
            + unsealedSeal(time: time).count + DKIMSigner.folded(String(repeating: "A", count: signer.signatureBase64Length), first: 2).count + 2
    }
}
