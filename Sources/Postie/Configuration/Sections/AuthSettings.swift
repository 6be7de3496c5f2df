/// `[auth]`: who may log in with AUTH, and what they may send as.
public struct AuthSettings: Sendable {
    /// Someone who may log in: a password hash and the addresses they may send as.
    public struct User: Sendable {
        public var password: PasswordHash
        /// Addresses (`info@example.com`) and whole domains (`@example.org`) besides the user's
        /// own name, when that is an address.
        public var sendAs: [String]

        public init(password: PasswordHash, sendAs: [String] = []) {
            self.password = password
            self.sendAs = sendAs
        }
    }

    /// Users by name, lower case. AUTH is offered (over TLS only) when there is at least one.
    public var users: [String: User] = [:]
    /// Authenticated users may send only as their own addresses (`553 5.7.1` otherwise).
    public var restrictSenders = true
    /// An authenticated user's `From:` header must name an address the user may send as (the
    /// same rule as MAIL FROM under `senders = "own"`); false: any `From:`.
    public var restrictHeaderFrom = true
    /// Failed AUTH attempts from one client address within the window; then `421 4.7.0` until
    /// the window has passed.
    public var maxFailures = 5
    public var failureWindow = 900
    /// Seconds a failed AUTH's reply is held back, times the failures in the window.
    public var failureDelay = 1.0

    public init() {}
}
