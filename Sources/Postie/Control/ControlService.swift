#if canImport(Glibc)
import Glibc
#endif
import Delivery
import Foundation
import Logging
import MailCore
import NIOPosix
import SMTPCore
import Storage

/// Carries out control requests against the running server's spool and queue.
struct ControlService: Sendable {
    let live: LiveConfiguration
    var configuration: PostieConfiguration { live.configuration }
    var directory: LocalDirectory { live.directory }
    /// Reads the configuration again and puts it in place (`postie reload`); nil when the server
    /// was not started from a file.
    let reload: (@Sendable () async -> ReloadReport)?
    let spool: Spool
    let queue: QueueRunner
    let threadPool: NIOThreadPool
    let logger: Logger

    func handle(_ request: ControlRequest) async -> ControlResponse {
        if request.command == .reload {
            guard let reload else { return .failure("this server cannot reload") }
            let report = await reload()
            return ControlResponse(ok: report.ok, error: report.error, reload: report)
        }
        do {
            return try await threadPool.runIfActive { try self.handleBlocking(request) }
        } catch {
            return .failure("\(error)")
        }
    }

    private func handleBlocking(_ request: ControlRequest) throws -> ControlResponse {
        switch request.command {
        case .list:
            return ControlResponse(ok: true, entries: try spool.committed().map(Self.entry))
        case .show:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id) else { return .failure("show needs a queue id") }
            guard let envelope = try? spool.readEnvelope(id) else { return .failure("\(id): no such message in the queue") }
            let head = (try? spool.readMessage(envelope, limit: 64 * 1024)) ?? []
            let text = String(decoding: head, as: UTF8.self)
            let headers = text.components(separatedBy: "\r\n\r\n").first ?? text
            return ControlResponse(ok: true, entries: [Self.entry(envelope)], text: envelope.encoded() + "\n" + headers.replacingOccurrences(of: "\r\n", with: "\n") + "\n")
        case .flush:
            let flushed = queue.flush(request.id)
            if let id = request.id, flushed.isEmpty { return .failure("\(id): not waiting for a retry") }
            return ControlResponse(ok: true, text: "flushed \(flushed.count) message(s)")
        case .delete:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id), spool.contains(id) else {
                return .failure("\(request.id ?? ""): no such message in the queue")
            }
            guard queue.withdraw(id) else { return .failure("\(id): a delivery is under way; try again") }
            try spool.remove(id)
            logger.notice("deleted by the administrator", metadata: ["queue_id": .string(id)])
            return ControlResponse(ok: true, text: "deleted \(id)")
        case .bounce:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id), spool.contains(id) else {
                return .failure("\(request.id ?? ""): no such message in the queue")
            }
            guard queue.withdraw(id) else { return .failure("\(id): a delivery is under way; try again") }
            let report = try queue.bounceNow(id)
            return ControlResponse(ok: true, text: report.map { "bounced \(id); report \($0.id)" } ?? "bounced \(id); no report due")
        case .hold:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id), spool.contains(id) else {
                return .failure("\(request.id ?? ""): no such message in the queue")
            }
            guard try queue.hold(id) else { return .failure("\(id): a delivery is under way; try again") }
            return ControlResponse(ok: true, text: "held \(id)")
        case .release:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id), spool.contains(id) else {
                return .failure("\(request.id ?? ""): no such message in the queue")
            }
            guard try queue.release(id) else { return .failure("\(id): not held") }
            return ControlResponse(ok: true, text: "released \(id)")
        case .trace:
            guard let id = request.id, LocalDirectory.isSafePathComponent(id) else { return .failure("trace needs a queue id") }
            let attempts = spool.trace(id)
            guard !attempts.isEmpty || spool.contains(id) else { return .failure("\(id): no such message in the queue, and no trace") }
            var response = ControlResponse(ok: true)
            response.attempts = attempts
            return response
        case .submit:
            return .failure("a submission streams through the control handler")
        case .verify:
            for text in request.recipients ?? [] {
                if case .failure(let refusal) = destinations(for: text) { return .failure(refusal.reason) }
            }
            return ControlResponse(ok: true)
        case .reload:
            return .failure("reload is not a queue operation")
        }
    }

    static func entry(_ e: Envelope) -> ControlResponse.QueueEntry {
        ControlResponse.QueueEntry(
            id: e.id, arrival: e.arrivalTime, size: e.size, sender: e.sender.description,
            recipients: e.recipients.map {
                .init(address: $0.target.description, original: $0.original, status: $0.status.rawValue, attempts: $0.attempts, lastError: $0.lastError)
            }, nextAttempt: e.nextAttempt, held: e.held ? true : nil)
    }

    struct Refusal: Error { var reason: String }

    /// Where a locally handed-over recipient goes (a bare name is in the primary domain); any
    /// remote address is taken, as from a trusted client.
    private func destinations(for text: String) -> Result<(Mailbox, [Destination]), Refusal> {
        let address = text.contains("@") ? text : "\(text)@\(directory.primaryDomain)"
        guard let mailbox = Mailbox.parse(address) else { return .failure(Refusal(reason: "bad recipient address: \(text)")) }
        switch RecipientPolicy.decide(.mailbox(mailbox), directory: directory, mayRelay: true) {
        case .accept(let destinations): return .success((mailbox, destinations))
        case .refuse: return .failure(Refusal(reason: "\(address): no such local user"))
        }
    }

    /// A local submission (`postie sendmail`) checked from its request line, before any of its
    /// octets arrive: any sender, any recipient a local user may name.
    struct Submission: Sendable {
        var sender: ReversePath
        var recipients: [EnvelopeRecipient]
        var submitter: String
        var arrival: Int64
        /// Our trace field, the message's first line.
        var received: String

        func envelope(id: String, size: Int, eightBit: Bool) -> Envelope {
            LocalMessage.envelope(
                id: id, arrival: arrival, size: size, sender: sender, heloName: "localhost", eightBit: eightBit, recipients: recipients)
        }
    }

    func prepareSubmission(_ request: ControlRequest) -> Result<Submission, Refusal> {
        let senderText = request.sender ?? ""
        guard let sender = senderText.isEmpty ? ReversePath.null : ReversePath.parse("<\(senderText)>") else {
            return .failure(Refusal(reason: "bad sender address: \(senderText)"))
        }
        var recipients: [EnvelopeRecipient] = []
        for text in request.recipients ?? [] {
            switch destinations(for: text) {
            case .success(let (mailbox, destinations)): RecipientPolicy.add(destinations, original: "<\(mailbox)>", to: &recipients)
            case .failure(let refusal): return .failure(refusal)
            }
        }
        guard !recipients.isEmpty else { return .failure(Refusal(reason: "no recipients")) }
        let length = request.length ?? 0
        guard length >= 0, length <= configuration.smtp.limits.maxMessageSize else {
            return .failure(Refusal(reason: "message too large (at most \(configuration.smtp.limits.maxMessageSize) octets)"))
        }
        let now = Int64(time(nil))
        let submitter = HeaderText.singleLine(request.submitter ?? "local")
        let received = LocalMessage.received(by: configuration.hostname, "from userid \(submitter)", unixTime: now)
        return .success(Submission(sender: sender, recipients: recipients, submitter: submitter, arrival: now, received: received))
    }

    /// A submission is durable: log it and hand it to the queue.
    /// `dkim`: what signing did, for the log.
    func submitted(_ submission: Submission, _ committed: SpoolWriter.Committed, dkim: String? = nil) -> ControlResponse {
        let envelope = committed.envelope
        var metadata: Logger.Metadata = [
            "queue_id": .string(envelope.id), "from": .string(submission.sender.description), "nrcpt": "\(submission.recipients.count)",
            "size": "\(envelope.size)", "proto": "local", "uid": .string(submission.submitter),
        ]
        if let dkim { metadata["dkim"] = .string(dkim) }
        logger.info("queued", metadata: metadata)
        queue.enqueue(envelope, octets: committed.message, fresh: true)
        return ControlResponse(ok: true, id: envelope.id)
    }
}
