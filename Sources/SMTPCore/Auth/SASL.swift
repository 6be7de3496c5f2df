import ExtrasBase64

/// A user name and password a client gave with AUTH PLAIN or LOGIN (RFC 4954, RFC 4616). It is
/// never logged: `description` hides the password.
public struct SASLCredentials: Hashable, Sendable, CustomStringConvertible {
    public var mechanism: String
    /// The identity to act as (PLAIN's authzid); empty means the user itself.
    public var authorizationID: String
    public var user: String
    public var password: [UInt8]

    public init(mechanism: String, authorizationID: String = "", user: String, password: [UInt8]) {
        self.mechanism = mechanism
        self.authorizationID = authorizationID
        self.user = user
        self.password = password
    }

    public var description: String { "SASLCredentials(\(mechanism), user: \(user), password: <hidden>)" }
}

/// The server side of one SASL exchange for the mechanisms Postie offers: PLAIN (RFC 4616) and
/// LOGIN (draft-murchison-sasl-login). Lines in and out are base64 (RFC 4954 §4); this value
/// decodes them and says what to send next. It does no I/O and knows no passwords.
public struct SASLExchange: Sendable {
    public static let supportedMechanisms = ["PLAIN", "LOGIN"]

    public enum Step: Hashable, Sendable {
        /// Send `334 <challenge>` and feed the client's next line to `respond(_:)`.
        case challenge(String)
        /// The exchange is complete: check these credentials.
        case credentials(SASLCredentials)
        /// The exchange failed; send this reply.
        case failure(Reply)
    }

    private enum State: Sendable {
        case plain
        case loginUser
        case loginPassword(user: String)
    }

    private var state: State

    /// Starts an exchange; nil for a mechanism we do not offer.
    public static func start(mechanism: String, initialResponse: String?) -> (SASLExchange, Step)? {
        switch mechanism.uppercased() {
        case "PLAIN":
            var exchange = SASLExchange(state: .plain)
            guard let initial = initialResponse else { return (exchange, .challenge("")) }
            let step = exchange.respond(Array(initial.utf8))
            return (exchange, step)
        case "LOGIN":
            var exchange = SASLExchange(state: .loginUser)
            guard let initial = initialResponse else { return (exchange, .challenge(Self.usernameChallenge)) }
            let step = exchange.respond(Array(initial.utf8))  // the exchange after the step, not before it
            return (exchange, step)
        default:
            return nil
        }
    }

    /// "Username:" and "Password:", base64, as every LOGIN client expects.
    static let usernameChallenge = "VXNlcm5hbWU6"
    static let passwordChallenge = "UGFzc3dvcmQ6"

    public static let cancelled = Reply(501, .init(5, 7, 0), "Authentication cancelled")
    public static let badBase64 = Reply(501, .init(5, 5, 2), "Error: cannot decode the response (not base64)")
    public static let malformed = Reply(501, .init(5, 5, 2), "Error: malformed authentication response")

    /// The client's line (without CRLF).
    public mutating func respond(_ line: [UInt8]) -> Step {
        if line == [UInt8(ascii: "*")] { return .failure(Self.cancelled) }
        let decoded: [UInt8]
        if line.isEmpty || line == [UInt8(ascii: "=")] {
            decoded = []  // "=" is an empty initial response (RFC 4954 §4)
        } else {
            guard let d = try? Base64.decode(bytes: line) else { return .failure(Self.badBase64) }
            decoded = d
        }
        switch state {
        case .plain:
            // authzid NUL authcid NUL passwd (RFC 4616 §2).
            let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let user = Self.text(parts[1]), let authz = Self.text(parts[0]), !parts[2].contains(0) else {
                return .failure(Self.malformed)
            }
            return .credentials(SASLCredentials(mechanism: "PLAIN", authorizationID: authz, user: user, password: Array(parts[2])))
        case .loginUser:
            guard let user = Self.text(decoded[...]) else { return .failure(Self.malformed) }
            state = .loginPassword(user: user)
            return .challenge(Self.passwordChallenge)
        case .loginPassword(let user):
            guard !decoded.contains(0) else { return .failure(Self.malformed) }
            return .credentials(SASLCredentials(mechanism: "LOGIN", user: user, password: decoded))
        }
    }

    /// UTF-8 without NUL, CR or LF: what a user name may be.
    private static func text(_ bytes: ArraySlice<UInt8>) -> String? {
        guard !bytes.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 }) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
