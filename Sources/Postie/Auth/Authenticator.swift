import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore

/// Checks AUTH credentials for every connection: password hashes are verified on the thread pool
/// (scrypt is slow on purpose), failures are slowed down and limited per client address, and
/// nothing a client typed is ever logged, only the user name of a successful login.
final class Authenticator: Sendable {
    private let users: [String: PostieConfiguration.User]
    private let restrictSenders: Bool
    private let delimiter: String?
    private let maxFailures: Int
    private let window: TimeAmount
    private let delay: TimeAmount
    private let threadPool: NIOThreadPool
    private let logger: Logger
    /// Verified when the user is unknown, so that the reply takes as long as for a known one.
    private let decoy: PasswordHash
    /// Recent failures per client address.
    private let failures = NIOLockedValueBox<[String: [NIODeadline]]>([:])

    static let badCredentials = Reply(535, .init(5, 7, 8), "Error: authentication failed")
    /// However many failures, a refusal is held back no longer than this (docs/configuration.md).
    static let longestFailureDelay = TimeAmount.seconds(30)

    init(configuration: PostieConfiguration, threadPool: NIOThreadPool, logger: Logger) {
        self.users = configuration.users
        self.restrictSenders = configuration.restrictSenders
        self.delimiter = configuration.recipientDelimiter
        self.maxFailures = configuration.authMaxFailures
        self.window = .seconds(Int64(configuration.authFailureWindow))
        self.delay = .nanoseconds(Int64(configuration.authFailureDelay * 1e9))
        self.threadPool = threadPool
        self.logger = logger
        // The costliest user's parameters with random salt and hash: checking against it takes as
        // long as a real check, and making it costs nothing at start.
        self.decoy = PasswordHash.decoy(like: configuration.users.values.map(\.password).max { $0.logRounds < $1.logRounds })
    }

    /// What a user may put in MAIL FROM.
    func senderPolicy(for user: String) -> SenderPolicy {
        guard restrictSenders else { return .any }
        var addresses: Set<String> = []
        var domains: Set<String> = []
        if Mailbox.parse(user) != nil { addresses.insert(user) }
        for entry in users[user]?.sendAs ?? [] {
            if entry.hasPrefix("@") { domains.insert(String(entry.dropFirst())) } else { addresses.insert(entry) }
        }
        return SenderPolicy(addresses: addresses, domains: domains, delimiter: delimiter)
    }

    func authenticate(_ credentials: SASLCredentials, client: String, eventLoop: EventLoop) -> EventLoopFuture<AuthenticationOutcome> {
        let now = NIODeadline.now()
        let recent = failures.withLockedValue { table in
            table[client] = table[client]?.filter { now - $0 < window }
            return table[client]?.count ?? 0
        }
        if recent >= maxFailures {
            logger.notice("authentication refused: too many failures", metadata: ["client": .string(client), "failures": "\(recent)"])
            return eventLoop.makeSucceededFuture(
                .refused(Reply(421, .init(4, 7, 0), "Error: too many failed authentication attempts, try again later")))
        }
        let name = credentials.user.lowercased()
        let user = users[name]
        // No acting as someone else (PLAIN's authorization identity).
        let authzOK = credentials.authorizationID.isEmpty || credentials.authorizationID.lowercased() == name
        let hash = user?.password ?? decoy
        let password = credentials.password
        return threadPool.runIfActive(eventLoop: eventLoop) { hash.verify(password) }
            .flatMap { [self] matches in
                if matches, user != nil, authzOK {
                    logger.info(
                        "authenticated",
                        metadata: ["client": .string(client), "user": .string(name), "mechanism": .string(credentials.mechanism)])
                    return eventLoop.makeSucceededFuture(
                        .accepted(AuthenticatedIdentity(user: name, senders: senderPolicy(for: name))))
                }
                let count = recordFailure(client: client)
                // The attempted name is not logged: people type passwords into it.
                logger.notice(
                    "authentication failed",
                    metadata: ["client": .string(client), "mechanism": .string(credentials.mechanism), "failures": "\(count)"])
                let wait = TimeAmount.nanoseconds(min(delay.nanoseconds * Int64(count), Self.longestFailureDelay.nanoseconds))
                return eventLoop.scheduleTask(in: wait) { AuthenticationOutcome.refused(Self.badCredentials) }.futureResult
            }
    }

    private func recordFailure(client: String) -> Int {
        let now = NIODeadline.now()
        return failures.withLockedValue { table in
            // Keep the table bounded: forget addresses whose failures are all old.
            if table.count > 10_000 { table = table.filter { $0.value.contains { now - $0 < window } } }
            table[client, default: []].append(now)
            return table[client]!.count
        }
    }
}
