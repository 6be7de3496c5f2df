import Logging
import MailCore
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import Storage

/// Hands local mailboxes' mail to an LMTP server (RFC 2033), Dovecot's usually: one connection
/// per attempt, one outcome per recipient after the data, so that a mailbox that is full or
/// unknown there defers or fails alone. The queue's retry and report rules apply as for relaying.
public struct LMTPTarget: AsyncDeliveryTarget {
    public let endpoint: ClientEndpoint
    let settings: @Sendable () -> DeliverySettings
    let spool: Spool
    let threadPool: NIOThreadPool
    let group: EventLoopGroup
    let logger: Logger

    public init(
        endpoint: ClientEndpoint, settings: @escaping @Sendable () -> DeliverySettings, spool: Spool, threadPool: NIOThreadPool,
        group: EventLoopGroup, logger: Logger
    ) {
        self.endpoint = endpoint
        self.settings = settings
        self.spool = spool
        self.threadPool = threadPool
        self.group = group
        self.logger = logger
    }

    public func deliverAsync(_ message: QueuedMessage, to ids: [RecipientID]) async -> TargetOutcomes {
        let settings = self.settings()
        let envelope = message.envelope
        var members: [RecipientID] = []
        var recipients: [OutgoingRecipient] = []
        var notLocal: [RecipientID] = []  // a routing error, never expected
        for id in ids {
            guard case .mailbox(let domain, let user) = envelope[id].target else {
                notLocal.append(id)
                continue
            }
            members.append(id)
            recipients.append(OutgoingRecipient(Mailbox(localPart: user, domain: domain)))
        }
        let refused = TargetOutcomes(notLocal, DeliveryVerdicts.notLocal)
        guard !members.isEmpty else { return refused }
        let outgoing = OutgoingMessage(envelope, to: recipients)
        let (spool, pool) = (self.spool, self.threadPool)
        let result = await SMTPClient.deliver(
            to: endpoint, dialect: .lmtp, heloName: settings.hostname, messages: [outgoing], timeouts: settings.relay.timeouts,
            group: group, logger: logger
        ) { _ in try SpoolMessageReader(spool: spool, envelope: envelope, threadPool: pool) }
        let relay = "lmtp:\(endpoint)"
        await spool.keepTrace(of: result, for: [envelope.id], at: relay, threadPool: pool)
        let outcomes =
            result.deferral(at: relay).map { TargetOutcomes(members, $0, relay: relay) }
            ?? TargetOutcomes(members, result.outcomes[0] ?? [], relay: relay)
        return outcomes.merging(refused) { a, _ in a }
    }
}
