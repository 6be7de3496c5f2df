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
        for id in ids {
            guard case .mailbox(let domain, let user) = envelope[id].target else { continue }
            members.append(id)
            recipients.append(OutgoingRecipient(Mailbox(localPart: user, domain: domain)))
        }
        guard !members.isEmpty else { return [:] }
        let outgoing = OutgoingMessage(
            reversePath: envelope.sender, recipients: recipients, size: envelope.size, eightBit: envelope.body == .eightBitMIME,
            needsSMTPUTF8: envelope.smtpUTF8 || !(envelope.sender.mailbox?.isASCII ?? true) || recipients.contains { !$0.mailbox.isASCII })
        let (spool, pool) = (self.spool, self.threadPool)
        let result = await SMTPClient.deliver(
            to: endpoint, dialect: .lmtp, heloName: settings.hostname, messages: [outgoing], timeouts: settings.relay.timeouts,
            group: group, logger: logger
        ) { _ in try SpoolMessageReader(spool: spool, envelope: envelope, threadPool: pool) }
        let relay = "lmtp:\(endpoint)"
        if let problem = result.deferral(at: relay) { return TargetOutcomes(members, problem, relay: relay) }
        guard let outcomes = result.outcomes[0] else {
            return TargetOutcomes(members, DeliveryReplies.noOutcome(from: relay), relay: relay)
        }
        var byID: TargetOutcomes = [:]
        for (id, outcome) in zip(members, outcomes) { byID[id] = TargetOutcome(outcome, relay: relay) }
        return byID
    }
}

extension RelaySettings {
    /// The client's timeouts: connecting, each reply, and the end of the data (at least ten
    /// minutes, RFC 5321 §4.5.3.2.6).
    var timeouts: ClientTimeouts {
        var t = ClientTimeouts(all: .seconds(Int64(commandTimeout)))
        t.connect = .seconds(Int64(connectTimeout))
        t.dataTermination = .seconds(Int64(max(commandTimeout, 600)))
        return t
    }
}
