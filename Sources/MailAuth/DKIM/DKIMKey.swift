import Crypto
import CryptoExtras
import Foundation

/// A DKIM signing algorithm (RFC 6376 §3.3, RFC 8463). `rsa-sha1` is not one: RFC 8301 forbids
/// signing with it.
public enum DKIMAlgorithm: String, Sendable, CaseIterable {
    case rsaSHA256 = "rsa-sha256"
    case ed25519SHA256 = "ed25519-sha256"

    /// The key record's `k=` tag.
    public var keyType: String { self == .rsaSHA256 ? "rsa" : "ed25519" }
}

/// A private key that signs for a domain: RSA of at least 2048 bits (RFC 8301 allows 1024 for
/// verifying only; Postie does not sign with them) or Ed25519 (RFC 8463). Read from a PEM file:
/// PKCS #1 (`RSA PRIVATE KEY`) or PKCS #8 (`PRIVATE KEY`).
public struct DKIMKey: Sendable {
    enum Backing: @unchecked Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let backing: Backing

    public var algorithm: DKIMAlgorithm {
        switch backing {
        case .rsa: .rsaSHA256
        case .ed25519: .ed25519SHA256
        }
    }

    /// RSA: the modulus size; Ed25519: 256.
    public var bits: Int {
        switch backing {
        case .rsa(let key): key.keySizeInBits
        case .ed25519: 256
        }
    }

    /// Why a PEM text is not a key Postie signs with.
    public struct KeyError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public init(pem: String) throws {
        guard pem.contains("-----BEGIN") else { throw KeyError(description: "not a PEM file (no -----BEGIN line)") }
        if let key = try? Curve25519.Signing.PrivateKey(pemRepresentation: pem) {
            backing = .ed25519(key)
            return
        }
        // Read as allowed to be short first, so that a 1024-bit key is named as such rather
        // than as unreadable.
        guard let any = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem) else {
            throw KeyError(description: "not an RSA or Ed25519 private key in PEM (PKCS #1 or PKCS #8)")
        }
        guard any.keySizeInBits >= 2048 else {
            throw KeyError(description: "an RSA key of \(any.keySizeInBits) bits: DKIM keys need 2048 or more (RFC 8301)")
        }
        backing = .rsa(any)
    }

    /// An Ed25519 key from its 32-octet seed (the form dkimpy and RFC 8463's example keep).
    public init(ed25519Seed seed: [UInt8]) throws {
        backing = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: seed))
    }

    /// A new key: Ed25519, or RSA of `bits` (2048, 3072 or 4096).
    public static func generate(_ algorithm: DKIMAlgorithm, bits: Int = 2048) throws -> DKIMKey {
        switch algorithm {
        case .ed25519SHA256:
            return DKIMKey(backing: .ed25519(Curve25519.Signing.PrivateKey()))
        case .rsaSHA256:
            guard [2048, 3072, 4096].contains(bits) else {
                throw KeyError(description: "RSA keys of 2048, 3072 or 4096 bits only, not \(bits)")
            }
            return DKIMKey(backing: .rsa(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))))
        }
    }

    init(backing: Backing) { self.backing = backing }

    /// The private key in PEM (PKCS #8), for its file.
    public var pemRepresentation: String {
        switch backing {
        case .rsa(let key): key.pkcs8PEMRepresentation
        case .ed25519(let key): key.pemRepresentation
        }
    }

    /// The public key as the record's `p=` holds it: the SubjectPublicKeyInfo for RSA (RFC 6376
    /// §3.6.1), the 32 raw octets for Ed25519 (RFC 8463 §4), in base64.
    public var publicKeyBase64: String {
        switch backing {
        case .rsa(let key): key.publicKey.derRepresentation.base64EncodedString()
        case .ed25519(let key): key.publicKey.rawRepresentation.base64EncodedString()
        }
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    public var record: String { "v=DKIM1; k=\(algorithm.keyType); p=\(publicKeyBase64)" }

    /// `record` as the character-strings of a zone file: at most 255 octets each (RFC 1035
    /// §3.3.14), which a resolver joins.
    public var recordStrings: [String] {
        var strings: [String] = []
        var rest = Substring(record)
        while !rest.isEmpty {
            strings.append(String(rest.prefix(255)))
            rest = rest.dropFirst(255)
        }
        return strings
    }

    /// What a published key record says of this key.
    public enum RecordCheck: Equatable, Sendable, CustomStringConvertible {
        case matches
        /// `p=` empty: the key is revoked (RFC 6376 §3.6.1).
        case revoked
        case otherKey
        /// `k=` names another type than ours.
        case otherType(record: String, ours: String)
        case notDKIM(String)

        public var description: String {
            switch self {
            case .matches: "published, and it is this key"
            case .revoked: "revoked (the record's p= is empty)"
            case .otherKey: "the record holds another key"
            case .otherType(let record, let ours): "the record is for an \(record) key, this one is \(ours)"
            case .notDKIM(let why): "not a DKIM key record: \(why)"
            }
        }
    }

    /// Compares a TXT record (its strings joined) with this key.
    public func check(record: [UInt8]) -> RecordCheck {
        let tags = DKIMTags(record)
        if let v = tags["v"], v != "DKIM1" { return .notDKIM("v=\(v)") }
        guard let p = tags["p"] else { return .notDKIM("no p= tag") }
        let k = tags["k"] ?? "rsa"
        guard k == algorithm.keyType else { return .otherType(record: k, ours: algorithm.keyType) }
        let published = p.filter { !$0.isWhitespace }
        if published.isEmpty { return .revoked }
        return published == publicKeyBase64 ? .matches : .otherKey
    }

    /// Signs the SHA-256 hash of the signing input: RSASSA-PKCS1-v1_5 (RFC 6376 §3.3.1) or
    /// Ed25519 over the hash itself (RFC 8463 §3).
    func sign(hash: SHA256.Digest) throws -> [UInt8] {
        switch backing {
        case .rsa(let key): Array(try key.signature(for: hash, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .ed25519(let key): Array(try key.signature(for: Array(hash)))
        }
    }
}
