#if canImport(Glibc)
import Glibc
#endif
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

    func handle(_ request: ControlRequest, message: [UInt8]) async -> ControlResponse {
        if request.command == .reload {
            guard let reload else { return .failure("this server cannot reload") }
            let report = await reload()
            return ControlResponse(ok: report.ok, error: report.error, reload: report)
        }
        do {
            return try await threadPool.runIfActive { try self.handleBlocking(request, message: message) }
        } catch {
            return .failure("\(error)")
        }
    }

    private func handleBlocking(_ request: ControlRequest, message: [UInt8]) throws -> ControlResponse {
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
        case .submit:
            return try submit(request, message: message)
        case .verify:
            for text in request.recipients ?? [] {
                if case .failure(let refusal) = recipients(for: text) { return .failure(refusal.reason) }
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
            }, nextAttempt: e.nextAttempt)
    }

    struct Refusal: Error { var reason: String }

    /// Where a locally handed-over recipient goes (a bare name is in the primary domain); any
    /// remote address is taken, as from a trusted client.
    private func recipients(for text: String) -> Result<[EnvelopeRecipient], Refusal> {
        let address = text.contains("@") ? text : "\(text)@\(directory.primaryDomain)"
        guard let mailbox = Mailbox.parse(address) else { return .failure(Refusal(reason: "bad recipient address: \(text)")) }
        switch directory.resolve(.mailbox(mailbox)) {
        case .deliver(let targets):
            return .success(targets.map { EnvelopeRecipient(target: $0, original: "<\(mailbox)>") })
        case .notLocal:
            return .success([EnvelopeRecipient(target: .remote(mailbox), original: "<\(mailbox)>")])
        default:
            return .failure(Refusal(reason: "\(address): no such local user"))
        }
    }

    /// Queues a message handed over locally (`postie sendmail`): any sender, any recipient.
    private func submit(_ request: ControlRequest, message: [UInt8]) throws -> ControlResponse {
        let senderText = request.sender ?? ""
        guard let sender = senderText.isEmpty ? ReversePath.null : ReversePath.parse("<\(senderText)>") else {
            return .failure("bad sender address: \(senderText)")
        }
        var recipients: [EnvelopeRecipient] = []
        for text in request.recipients ?? [] {
            switch self.recipients(for: text) {
            case .success(let targets):
                for r in targets where !recipients.contains(where: { $0.target == r.target }) { recipients.append(r) }
            case .failure(let refusal):
                return .failure(refusal.reason)
            }
        }
        guard !recipients.isEmpty else { return .failure("no recipients") }
        let now = Int64(time(nil))
        let submitter = HeaderText.singleLine(request.submitter ?? "local")
        let received = "Received: by \(configuration.hostname) (Postie, from userid \(submitter));\r\n\t\(MessageDate.rfc5322(unixTime: now))\r\n"
        let bytes = Array(received.utf8) + message
        let envelope = try spool.store(bytes) { id, size in
            Envelope(
                id: id, arrivalTime: now, size: size, sender: sender, clientAddress: "127.0.0.1", heloName: "localhost",
                protocolName: "local", body: message.contains { $0 >= 0x80 } ? .eightBitMIME : nil, recipients: recipients)
        }
        logger.info(
            "queued", metadata: [
                "queue_id": .string(envelope.id), "from": .string(sender.description), "nrcpt": "\(recipients.count)",
                "size": "\(envelope.size)", "proto": "local", "uid": .string(submitter),
            ])
        queue.enqueue(envelope)
        return ControlResponse(ok: true, id: envelope.id)
    }
}
