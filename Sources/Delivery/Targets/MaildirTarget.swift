import MailCore
import SMTPCore
import Storage

/// Delivers into Postie's own Maildirs (`<mail root>/<domain>/<user>/`), in the Maildir thread's
/// next batch. A message still in memory is written from there; else from its spool file.
public struct MaildirTarget: DeliveryTarget {
    let deliverer: MaildirDeliverer
    let spool: Spool

    public init(deliverer: MaildirDeliverer, spool: Spool) {
        self.deliverer = deliverer
        self.spool = spool
    }

    public func deliver(_ message: QueuedMessage, to recipients: [RecipientID], completion: @escaping @Sendable (TargetOutcomes) -> Void) {
        let envelope = message.envelope
        let prefix = TraceHeaders.returnPath(envelope.sender)
        var ids: [RecipientID] = []
        var jobs: [MaildirDeliverer.Job] = []
        var outcomes: TargetOutcomes = [:]
        for id in recipients {
            guard case .mailbox(let domain, let user) = envelope[id].target else {
                outcomes[id] = TargetOutcome(DeliveryVerdicts.notLocal)  // a routing error, never expected
                continue
            }
            ids.append(id)
            // A message DMARC quarantined goes to the Junk folder (Maildir++ `.Junk`).
            jobs.append(.init(prefix: prefix, domain: domain, user: user, folder: envelope.quarantined ? "Junk" : nil))
        }
        guard !jobs.isEmpty else { return completion(outcomes) }
        let source: MessageSource = message.octets.map { .memory($0) } ?? .file(path: spool.layout.dataPath(envelope.id), size: envelope.size)
        let (members, refused) = (ids, outcomes)
        deliverer.submit(source, jobs: jobs) { results in
            var outcomes = refused
            for (id, result) in zip(members, results) {
                switch result {
                case .success: outcomes[id] = TargetOutcome(DeliveryVerdicts.deliveredToMaildir)
                case .failure(let error): outcomes[id] = TargetOutcome(DeliveryVerdicts.localDeliveryFailed(error))
                }
            }
            completion(outcomes)
        }
    }
}
