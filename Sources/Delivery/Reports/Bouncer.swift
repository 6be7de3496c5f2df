#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailAuth
import MailCore
import SMTPCore
import Storage

/// Tells senders what became of their mail (RFC 3464): one report per message for all the
/// recipients it concerns, from the null sender, queued like any other message. Never for a
/// message whose sender is `<>`, so reports cannot loop.
public struct Bouncer: Sendable {
    let settings: @Sendable () -> DeliverySettings
    let spool: Spool
    let logger: Logger
    /// Reports to senders Postie cannot vouch for, counted per domain (`ReportPolicy`).
    let limiter = ReportLimiter()

    public init(settings: @escaping @Sendable () -> DeliverySettings, spool: Spool, logger: Logger) {
        self.settings = settings
        self.spool = spool
        self.logger = logger
    }

    /// A report the sender may be due; the queue's ledger (MailCore) makes them.
    public typealias Notice = DeliveryLedger.Notice

    /// The notices a report would carry: those the recipient asked to hear of (NOTIFY) and the
    /// report policy lets go to this sender; none for a message from `<>`. Pure: the queue asks
    /// it to know whether an attempt has anyone to tell.
    public func due(_ envelope: Envelope, _ notices: [Notice]) -> [Notice] {
        // Most attempts ask for no notice (a delivery without NOTIFY=SUCCESS): then the settings
        // are not even read.
        due(envelope, notices) { ReportPolicy.vouchesFor(envelope, trustedNetworks: settings().relay.trustedNetworks) }
    }

    private func due(_ envelope: Envelope, _ notices: [Notice], vouched: () -> Bool) -> [Notice] {
        let asked = notices.filter { Notice.wanted(envelope[$0.recipient], $0.action) }
        guard !asked.isEmpty, envelope.sender != .null else { return [] }
        let vouched = vouched()
        return asked.filter { ReportPolicy.mayReport($0.action, vouched: vouched) }
    }

    /// Stores the report (blocking) and returns its envelope for the queue, or nil when none is due.
    public func report(_ envelope: Envelope, _ notices: [Notice], now: Int64) -> Envelope? {
        let settings = self.settings()
        let directory = settings.directory
        let hostname = settings.hostname
        let limit = settings.queue.bounceSizeLimit
        guard case .mailbox(let sender) = envelope.sender else { return nil }
        let vouched = ReportPolicy.vouchesFor(envelope, trustedNetworks: settings.relay.trustedNetworks)
        let wanted = due(envelope, notices) { vouched }
        guard !wanted.isEmpty else { return nil }
        // A stranger's mail that one of our aliases forwarded elsewhere, and that failed there: the
        // forwarder is told (its alias points somewhere broken), not the sender the stranger wrote.
        var reportTo = sender
        if !vouched, let forwarder = ReportPolicy.forwardingDomain(wanted.map { envelope[$0.recipient] }, directory) {
            reportTo = Mailbox(localPart: "postmaster", domain: forwarder)
        }
        if !vouched, !limiter.admit(domain: reportTo.normalizedDomain, now: now, perHour: settings.queue.reportsPerDomainPerHour) {
            logger.notice(
                "no report: too many reports to this domain in the last hour",
                metadata: ["queue_id": .string(envelope.id), "from": .string(sender.description), "report_to": .string(reportTo.description)])
            return nil
        }
        let targets: [Destination]
        switch RecipientPolicy.decide(.mailbox(reportTo), directory: directory, mayRelay: true) {
        case .accept(let t): targets = t
        case .refuse:
            logger.notice("no report: the sender's local mailbox does not exist", metadata: ["queue_id": .string(envelope.id), "from": .string(sender.description)])
            return nil
        }
        let original = (try? spool.readMessage(envelope, limit: limit + 65536)) ?? []
        let report = DeliveryReport(
            reportingMTA: hostname, queueID: envelope.id, arrivalDate: envelope.arrivalTime, envelopeID: envelope.envelopeID,
            sender: "<\(sender)>",
            recipients: wanted.map { n in
                let r = envelope[n.recipient]
                return DeliveryReport.Recipient(
                    finalRecipient: r.target.description, originalRecipient: r.originalRecipientParameter, action: n.action,
                    status: n.status.code.description, remoteMTA: n.relay?.split(separator: "[").first.map(String.init),
                    text: n.status.description, diagnosticCode: n.status.diagnosticCode, lastAttempt: now)
            }, original: original, headersOnly: envelope.ret == "HDRS", originalLimit: limit)
        let boundary = "\(envelope.id).\(now)/\(hostname)"
        let text = report.message(now: now, boundary: boundary, messageID: "\(envelope.id).\(now).report@\(hostname)")
        let received = LocalMessage.received(by: hostname, "delivery report on \(envelope.id)", unixTime: now)
        let textBytes = Array(text.utf8)
        var bytes = Array(received.utf8) + textBytes
        // Signed like our users' mail when the reporting domain (or a parent) has DKIM keys.
        if let keys = settings.dkimKeys {
            var signer = MessageSigner(keys: keys)
            signer.update(textBytes)
            if case .success(let fields) = signer.finish(time: now) { bytes = fields + bytes }
        }
        do {
            let stored = try spool.store(bytes) { id, size in
                var recipients: [EnvelopeRecipient] = []
                RecipientPolicy.add(targets, original: "<\(sender)>", notify: "NEVER", to: &recipients)
                return LocalMessage.envelope(
                    id: id, arrival: now, size: size, sender: .null, heloName: hostname,
                    eightBit: bytes.withUnsafeBytes(OctetScan.containsEightBit), recipients: recipients)
            }
            logger.info(
                "sender notified", metadata: ["queue_id": .string(envelope.id), "report_id": .string(stored.id), "to": .string(sender.description)])
            return stored
        } catch {
            logger.error("cannot store a delivery report", metadata: ["queue_id": .string(envelope.id), "error": .string("\(error)")])
            return nil
        }
    }
}
