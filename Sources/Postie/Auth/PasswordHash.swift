import Crypto
import CryptoExtras
import ExtrasBase64

/// A salted scrypt hash of a password (RFC 7914, via swift-crypto's BoringSSL), kept as a PHC
/// string: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` with unpadded base64. The configuration holds
/// only these; `postie passwd` makes them.
public struct PasswordHash: Hashable, Sendable, CustomStringConvertible {
    /// log2 of scrypt's N (CPU and memory cost: 128 · r · 2^ln octets, 32 MiB at 15).
    public var logRounds: Int
    public var blockSize: Int
    public var parallelism: Int
    public var salt: [UInt8]
    public var hash: [UInt8]

    /// The cost `postie passwd` uses: about 32 MiB and a tenth of a second here.
    public static let defaultLogRounds = 15
    static let hashLength = 32

    public enum ParseError: Error, CustomStringConvertible {
        case malformed(String)
        public var description: String {
            switch self {
            case .malformed(let why): return "not a password hash from 'postie passwd' (\(why))"
            }
        }
    }

    /// Hashes a password with a fresh random salt.
    public static func make(password: [UInt8], logRounds: Int = defaultLogRounds) throws -> PasswordHash {
        var result = PasswordHash(logRounds: logRounds, blockSize: 8, parallelism: 1, salt: randomBytes(16), hash: [])
        result.hash = try result.derive(password)
        return result
    }

    /// Reads a PHC string.
    public init(_ text: String) throws {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1] == "scrypt" else { throw ParseError.malformed("expected $scrypt$…") }
        var ln: Int?
        var r: Int?
        var p: Int?
        for parameter in fields[2].split(separator: ",") {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let value = Int(pair[1]) else { throw ParseError.malformed("bad parameter '\(parameter)'") }
            switch pair[0] {
            case "ln": ln = value
            case "r": r = value
            case "p": p = value
            default: throw ParseError.malformed("unknown parameter '\(pair[0])'")
            }
        }
        guard let ln, let r, let p, (1...24).contains(ln), (1...64).contains(r), (1...16).contains(p) else {
            throw ParseError.malformed("ln (1-24), r (1-64) and p (1-16) are needed")
        }
        guard let salt = try? Base64.decode(string: String(fields[3]), options: .omitPaddingCharacter), salt.count >= 4,
            let hash = try? Base64.decode(string: String(fields[4]), options: .omitPaddingCharacter), hash.count >= 16
        else { throw ParseError.malformed("bad salt or hash") }
        self.init(logRounds: ln, blockSize: r, parallelism: p, salt: salt, hash: hash)
    }

    /// A hash no password matches, with the cost parameters of `model` (or the cheapest): for
    /// unknown users, so that their check takes as long as a real one.
    static func decoy(like model: PasswordHash?) -> PasswordHash {
        PasswordHash(
            logRounds: model?.logRounds ?? 1, blockSize: model?.blockSize ?? 8, parallelism: model?.parallelism ?? 1,
            salt: randomBytes(16), hash: randomBytes(model?.hash.count ?? hashLength))
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    init(logRounds: Int, blockSize: Int, parallelism: Int, salt: [UInt8], hash: [UInt8]) {
        self.logRounds = logRounds
        self.blockSize = blockSize
        self.parallelism = parallelism
        self.salt = salt
        self.hash = hash
    }

    public var description: String {
        let salt = Base64.encodeToString(bytes: salt, options: .omitPaddingCharacter)
        let hash = Base64.encodeToString(bytes: hash, options: .omitPaddingCharacter)
        return "$scrypt$ln=\(logRounds),r=\(blockSize),p=\(parallelism)$\(salt)$\(hash)"
    }

    /// Whether the password matches, compared in constant time. Slow on purpose: call it off the
    /// event loop.
    public func verify(_ password: [UInt8]) -> Bool {
        guard !password.isEmpty, let derived = try? derive(password), derived.count == hash.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(derived, hash) { difference |= a ^ b }
        return difference == 0
    }

    private func derive(_ password: [UInt8]) throws -> [UInt8] {
        // BoringSSL wants a non-null pointer even for an empty password.
        let input = password.isEmpty ? [0] : password
        let key = try KDF.Scrypt.deriveKey(
            from: input, salt: salt, outputByteCount: hash.isEmpty ? Self.hashLength : hash.count, rounds: 1 << logRounds, blockSize: blockSize,
            parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }
}
