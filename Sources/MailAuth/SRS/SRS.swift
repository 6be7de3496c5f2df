import Crypto
import Foundation

/// The Sender Rewriting Scheme, in the form libsrs2 and postsrsd write it ("guarded" SRS0/SRS1,
/// HMAC-SHA1 hashes of 4 base64 characters, day stamps of 2 base32 characters): mail that an
/// alias forwards elsewhere goes out with a sender in our domain, so that SPF passes at the next
/// hop, and a bounce to that sender comes back to us and is turned back into the original one.
/// Addresses Postie writes are read by postsrsd with the same secret, and the other way round.
/// Pure: the caller gives the time. Written by hand: no Swift library implements SRS.
public struct SRS: Sendable {
    /// The first signs; all are accepted (a new secret goes first, the old one stays a while).
    public var secrets: [[UInt8]]
    /// The domain of rewritten addresses.
    public var domain: String
    /// Days a rewritten address is accepted back (libsrs2 and postsrsd: 21).
    public var maxAge: Int
    public static let hashLength = 4

    public init(secrets: [[UInt8]], domain: String, maxAge: Int = 21) {
        precondition(!secrets.isEmpty, "SRS needs a secret")
        self.secrets = secrets
        self.domain = domain
        self.maxAge = maxAge
    }

    /// Why an address does not reverse.
    public enum ReverseError: Error, Equatable, CustomStringConvertible {
        /// Not an SRS address at all: an ordinary local part.
        case notSRS
        case malformed
        case badHash
        case expired

        public var description: String {
            switch self {
            case .notSRS: "not an SRS address"
            case .malformed: "malformed SRS address"
            case .badHash: "SRS address with a wrong hash (forged?)"
            case .expired: "SRS address too old"
            }
        }
    }

    static let base32 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    static let separators: Set<UInt8> = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-")]

    /// Days since 1970, modulo 1024, in two base32 characters.
    static func stamp(_ unixTime: Int64) -> String {
        let day = Int((unixTime / 86400) % 1024)
        return String(decoding: [base32[(day >> 5) & 31], base32[day & 31]], as: UTF8.self)
    }

    /// HMAC-SHA1 of the parts in lower case, base64, the first `hashLength` characters.
    func hash(_ parts: [String], secret: [UInt8]) -> String {
        var mac = HMAC<Insecure.SHA1>(key: SymmetricKey(data: secret))
        for part in parts { mac.update(data: Array(part.lowercased().utf8)) }
        return String(Data(mac.finalize()).base64EncodedString().prefix(Self.hashLength))
    }

    func hashIsValid(_ given: String, _ parts: [String]) -> Bool {
        guard given.count >= Self.hashLength else { return false }
        // Compared without regard to case, as libsrs2 does: some systems change an address's case.
        return secrets.contains { hash(parts, secret: $0).lowercased() == given.lowercased() }
    }

    /// The sender to use when forwarding mail from `local@domain`: SRS0 for an ordinary address,
    /// SRS1 (keeping the first forwarder) for one another forwarder rewrote.
    public func forward(local: String, domain senderDomain: String, now: Int64) -> (local: String, domain: String) {
        let bytes = Array(local.utf8)
        if bytes.count > 4, Self.separators.contains(bytes[4]), local.prefix(4).uppercased() == "SRS0" {
            // SRS0 of the first forwarder: keep all of it after "SRS0" (its separator too).
            let rest = String(local.dropFirst(4))
            return ("SRS1=\(hash([senderDomain, rest], secret: secrets[0]))=\(senderDomain)=\(rest)", domain)
        }
        if bytes.count > 4, Self.separators.contains(bytes[4]), local.prefix(4).uppercased() == "SRS1",
            case let parts = local.dropFirst(5).split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false), parts.count == 3
        {
            // Already SRS1: the first forwarder and its part stay, with our hash.
            let host = String(parts[1])
            let rest = String(parts[2])
            return ("SRS1=\(hash([host, rest], secret: secrets[0]))=\(host)=\(rest)", domain)
        }
        let stamp = Self.stamp(now)
        return ("SRS0=\(hash([stamp, senderDomain, local], secret: secrets[0]))=\(stamp)=\(senderDomain)=\(local)", domain)
    }

    /// Whether a local part looks like SRS (`SRS0` or `SRS1` and a separator, in any case).
    public static func isSRS(_ local: String) -> Bool {
        let bytes = Array(local.utf8)
        guard bytes.count > 4, separators.contains(bytes[4]) else { return false }
        let prefix = local.prefix(4).uppercased()
        return prefix == "SRS0" || prefix == "SRS1"
    }

    /// The address a rewritten one stands for: the original sender for SRS0 (after checking the
    /// hash and the age), the first forwarder's SRS0 address for SRS1 (after checking the hash).
    public func reverse(local: String, now: Int64) throws(ReverseError) -> (local: String, domain: String) {
        guard Self.isSRS(local) else { throw .notSRS }
        let kind = local.prefix(4).uppercased()
        let body = local.dropFirst(5)
        if kind == "SRS0" {
            let parts = body.split(separator: "=", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, parts[1].count == 2, !parts[2].isEmpty, !parts[3].isEmpty else { throw .malformed }
            let (given, stamp, host, user) = (parts[0], parts[1], parts[2], parts[3])
            guard hashIsValid(given, [stamp, host, user]) else { throw .badHash }
            guard let then = Self.day(stamp) else { throw .malformed }
            var today = Int((now / 86400) % 1024)
            while today < then { today += 1024 }
            guard today <= then + maxAge else { throw .expired }
            return (user, host)
        }
        let parts = body.split(separator: "=", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else { throw .malformed }
        let (given, host, rest) = (parts[0], parts[1], parts[2])
        guard hashIsValid(given, [host, rest]) else { throw .badHash }
        return ("SRS0" + rest, host)
    }

    /// A day stamp's value (any case).
    static func day(_ stamp: String) -> Int? {
        let values = stamp.uppercased().utf8.map { c in base32.firstIndex(of: c) }
        guard values.count == 2, let high = values[0], let low = values[1] else { return nil }
        return high << 5 | low
    }

    /// The secrets of a postsrsd-style file: one a line, the first used to sign.
    public static func secrets(fromFile text: String) -> [[UInt8]] {
        text.split(whereSeparator: \.isNewline).map { Array($0.utf8) }.filter { !$0.isEmpty }
    }
}
