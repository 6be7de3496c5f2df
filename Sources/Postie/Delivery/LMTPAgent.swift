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
struct LMTPAgent: Sendable {
    let live: LiveConfiguration
    let spool: Spool
    let threadPool: NIOThreadPool
    let group: EventLoopGroup
    let logger: Logger

    /// Delivers the recipients at `indices` (local mailboxes) to `endpoint`; an outcome for each.
    func deliver(_ envelope: Envelope, indices: [Int], to endpoint: ClientEndpoint) async -> [Int: RelayAgent.Outcome] {
        let configuration = live.snapshot.configuration
        var members: [Int] = []
        var recipients: [OutgoingRecipient] = []
        for i in indices {
            guard case .mailbox(let domain, let user) = envelope.recipients[i].target else { continue }
            members.append(i)
            recipients.append(OutgoingRecipient(Mailbox(localPart: user, domain: domain)))
        }
        guard !members.isEmpty else { return [:] }
        let message = OutgoingMessage(
            reversePath: envelope.sender, recipients: recipients, size: envelope.size, eightBit: envelope.body == .eightBitMIME,
            needsSMTPUTF8: envelope.smtpUTF8 || !(envelope.sender.mailbox?.isASCII ?? true) || recipients.contains { !$0.mailbox.isASCII })
        var timeouts = ClientTimeouts(all: .seconds(Int64(configuration.relayCommandTimeout)))
        timeouts.connect = .seconds(Int64(configuration.relayConnectTimeout))
        timeouts.dataTermination = .seconds(Int64(max(configuration.relayCommandTimeout, 600)))
        let (spool, pool) = (self.spool, self.threadPool)
        let result = await SMTPClient.deliver(
            to: endpoint, dialect: .lmtp, heloName: configuration.hostname, messages: [message], timeouts: timeouts, group: group,
            logger: logger
        ) { _ in try SpoolMessageReader(spool: spool, envelope: envelope, threadPool: pool) }
        let relay = "lmtp:\(endpoint)"
        let outcomes: [RecipientOutcome]
        if let problem = result.deferral(at: relay) {
            outcomes = members.map { _ in .deferred(problem) }
        } else {
            outcomes = result.outcomes[0] ?? members.map { _ in .deferred(Reply(451, .init(4, 3, 0), "no outcome from \(relay)")) }
        }
        var byIndex: [Int: RelayAgent.Outcome] = [:]
        for (i, outcome) in zip(members, outcomes) { byIndex[i] = RelayAgent.Outcome(outcome: outcome, relay: relay) }
        return byIndex
    }
}
