import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore

/// Checks AUTH credentials for every connection: password hashes are verified on the thread pool
/// (scrypt is slow on purpose), failures are slowed down and limited per client address, and
/// nothing a client typed is ever logged, only the user name of a successful login.
final class Authenticator: Sendable {
    /// What the configuration says; replaced as a whole by a reload, while the failure counts stay.
    struct Settings: Sendable {
        var users: [String: AuthSettings.User]
        var restrictSenders: Bool
        var delimiter: String?
        var maxFailures: Int
        var window: TimeAmount
        var delay: TimeAmount
        /// Verified when the user is unknown, so that the reply takes as long as for a known one.
        var decoy: PasswordHash

        /// `delimiter` is `[recipients] delimiter`: `alice+tag@…` is alice's own address.
        init(_ auth: AuthSettings, delimiter: String?) {
            users = auth.users
            restrictSenders = auth.restrictSenders
            self.delimiter = delimiter
            maxFailures = auth.maxFailures
            window = .seconds(Int64(auth.failureWindow))
            delay = .nanoseconds(Int64(auth.failureDelay * 1e9))
            // The costliest user's parameters with random salt and hash: checking against it takes
            // as long as a real check, and making it costs nothing at start.
            decoy = PasswordHash.decoy(like: auth.users.values.map(\.password).max { $0.logRounds < $1.logRounds })
        }
    }

    private let current: NIOLockedValueBox<Settings>
    private var settings: Settings { current.withLockedValue { $0 } }
    private let threadPool: NIOThreadPool
    private let logger: Logger
    /// Attempts and failures per client and per account.
    private let ledger = NIOLockedValueBox(FailureLedger())
    /// Told when the ledger refuses an attempt unchecked (too many failures), for metrics.
    private let onLimit: (@Sendable () -> Void)?

    /// However many failures, a refusal is held back no longer than this (docs/configuration.md).
    static let longestFailureDelay = TimeAmount.seconds(30)

    init(_ settings: Settings, threadPool: NIOThreadPool, logger: Logger, onLimit: (@Sendable () -> Void)? = nil) {
        self.onLimit = onLimit
        self.current = NIOLockedValueBox(settings)
        self.threadPool = threadPool
        self.logger = logger
    }

    /// The users and policies of a reloaded configuration, for the next AUTH.
    func update(_ settings: Settings) {
        current.withLockedValue { $0 = settings }
    }

    /// What a user may put in MAIL FROM.
    func senderPolicy(for user: String) -> SenderPolicy {
        senderPolicy(for: user, settings)
    }

    private func senderPolicy(for user: String, _ settings: Settings) -> SenderPolicy {
        let users = settings.users
        let delimiter = settings.delimiter
        guard settings.restrictSenders else { return .any }
        var addresses: Set<String> = []
        var domains: Set<String> = []
        if Mailbox.parse(user) != nil { addresses.insert(user) }
        for entry in users[user]?.sendAs ?? [] {
            if entry.hasPrefix("@") { domains.insert(String(entry.dropFirst())) } else { addresses.insert(entry) }
        }
        return SenderPolicy(addresses: addresses, domains: domains, delimiter: delimiter)
    }

    func authenticate(_ credentials: SASLCredentials, client: String, eventLoop: EventLoop) -> EventLoopFuture<AuthenticationOutcome> {
        let settings = self.settings
        let (window, maxFailures, delay) = (settings.window, settings.maxFailures, settings.delay)
        let name = credentials.user.lowercased()
        let admission = ledger.withLockedValue {
            $0.admit(client: client, account: name, now: .now(), window: window, maxFailures: maxFailures)
        }
        let accountFailures: Int
        switch admission {
        case .refused(let failures):
            logger.notice("authentication refused: too many failures", metadata: ["client": .string(client), "failures": "\(failures)"])
            onLimit?()
            return eventLoop.makeSucceededFuture(
                .refused(Reply.Auth.tooManyFailures))
        case .check(let failures):
            accountFailures = failures
        }
        // An account under attack from many places: every attempt at it waits, the right one too.
        let accountWait = FailureLedger.accountDelay(
            failures: accountFailures, maxFailures: maxFailures, delay: delay, longest: Self.longestFailureDelay)
        let user = settings.users[name]
        // No acting as someone else (PLAIN's authorization identity).
        let authzOK = credentials.authorizationID.isEmpty || credentials.authorizationID.lowercased() == name
        let hash = user?.password ?? settings.decoy
        let password = credentials.password
        return threadPool.runIfActive(eventLoop: eventLoop) { hash.verify(password) }
            .map { Optional($0) }
            .recover { _ in nil }
            .flatMap { [self] checked in
                guard let matches = checked else {
                    // Not checked (the server is stopping): not the client's failure.
                    _ = ledger.withLockedValue { $0.finish(client: client, account: name, failed: false, now: .now(), window: window) }
                    return eventLoop.makeSucceededFuture(.refused(Reply.Auth.temporaryFailure))
                }
                let accepted = matches && user != nil && authzOK
                let count = ledger.withLockedValue {
                    $0.finish(client: client, account: name, failed: !accepted, now: .now(), window: window)
                }
                if accepted {
                    logger.info(
                        "authenticated",
                        metadata: ["client": .string(client), "user": .string(name), "mechanism": .string(credentials.mechanism)])
                    let outcome = AuthenticationOutcome.accepted(AuthenticatedIdentity(user: name, senders: senderPolicy(for: name, settings)))
                    return eventLoop.scheduleTask(in: accountWait) { outcome }.futureResult
                }
                // The attempted name is not logged: people type passwords into it.
                logger.notice(
                    "authentication failed",
                    metadata: ["client": .string(client), "mechanism": .string(credentials.mechanism), "failures": "\(count)"])
                let clientWait = TimeAmount.nanoseconds(min(delay.nanoseconds * Int64(count), Self.longestFailureDelay.nanoseconds))
                return eventLoop.scheduleTask(in: max(clientWait, accountWait)) { AuthenticationOutcome.refused(Reply.Auth.badCredentials) }
                    .futureResult
            }
    }
}
