#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import Storage

/// Takes committed messages from the spool and delivers each recipient: local ones into their
/// Maildirs, remote ones through the relay. Deferred recipients are retried with exponential
/// backoff and jitter until the message's lifetime ends; then, and for every permanent failure,
/// the sender gets a delivery report. A message leaves the spool only when every recipient is done.
public final class QueueRunner: Sendable {
    private let spool: Spool
    private let maildir: MaildirDeliverer
    private let relay: RelayAgent?
    /// Local mailboxes of domains delivered by LMTP (nil: every local domain uses Maildirs).
    private let lmtp: LMTPAgent?
    private let bouncer: Bouncer
    private let threadPool: NIOThreadPool
    private let eventLoop: EventLoop
    private let logger: Logger
    /// The retry and expiry policy is read from the current configuration at each attempt.
    private let live: LiveConfiguration
    private var policy: DeliveryLedger.Policy {
        // Read through the snapshot: copying the whole configuration for four numbers, per
        // recipient, is work on the delivery path for nothing.
        let s = live.snapshot
        return DeliveryLedger.Policy(
            retryMinimum: Int64(s.configuration.retryMinimum), retryMaximum: Int64(s.configuration.retryMaximum),
            maxLifetime: Int64(s.configuration.maxLifetime), delayWarning: Int64(s.configuration.delayWarning))
    }

    private struct State {
        var running: Set<String> = []
        /// Asked for again (a flush, a timer due) while an attempt was under way: tried again as soon
        /// as that attempt ends, with the envelope it leaves, never dropped.
        var again: Set<String> = []
        var timers: [String: Scheduled<Void>] = [:]
        var stopped = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    init(
        spool: Spool, maildir: MaildirDeliverer, relay: RelayAgent?, lmtp: LMTPAgent? = nil, bouncer: Bouncer, threadPool: NIOThreadPool,
        eventLoop: EventLoop,
        logger: Logger, live: LiveConfiguration
    ) {
        self.spool = spool
        self.maildir = maildir
        self.relay = relay
        self.lmtp = lmtp
        self.bouncer = bouncer
        self.threadPool = threadPool
        self.eventLoop = eventLoop
        self.logger = logger
        self.live = live
    }

    /// Delivers a freshly committed (or recovered) message now, or schedules it for its next attempt.
    /// `message`: its octets, when the spool writer still has them in memory; `fresh`: it was
    /// just committed (so its envelope was never updated).
    public func enqueue(_ envelope: Envelope, message: [ByteBuffer]? = nil, fresh: Bool = false) {
        let now = Int64(time(nil))
        if let next = envelope.nextAttempt, next > now {
            schedule(envelope, in: next - now)
            return
        }
        let start = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            if s.running.contains(envelope.id) {
                s.again.insert(envelope.id)
                return false
            }
            // This attempt replaces any that was scheduled.
            s.timers.removeValue(forKey: envelope.id)?.cancel()
            s.running.insert(envelope.id)
            return true
        }
        guard start else { return }
        if isSimpleLocal(envelope) {
            deliverSimpleLocal(envelope, message: message, fresh: fresh)
            return
        }
        Task {
            let left = await attempt(envelope)
            finished(envelope.id, leaving: left)
        }
    }

    /// A new message for local mailboxes only, with no success notice asked for: the common case,
    /// which needs no task, no envelope update and no report when every mailbox takes it.
    func isSimpleLocal(_ envelope: Envelope) -> Bool {
        let snapshot = live.snapshot
        return envelope.recipients.allSatisfy { r in
            guard case .mailbox(let domain, _) = r.target, r.status == .pending, snapshot.configuration.delivery(for: domain) == .maildir else {
                return false
            }
            return !DeliveryLedger.Notice.wanted(r, .delivered)
        }
    }

    /// Delivers a simple local message straight from the Maildir thread's batch and, when every
    /// mailbox took it, removes it from the spool there too. Anything else (a mailbox that failed)
    /// goes the general way, with these results.
    private func deliverSimpleLocal(_ envelope: Envelope, message: [ByteBuffer]?, fresh: Bool) {
        let (local, jobs) = localJobs(envelope)
        let source: MessageSource = message.map { .memory($0) } ?? .file(path: spool.layout.dataPath(envelope.id), size: envelope.size)
        maildir.submit(source, jobs: jobs) { [self] results in
            guard results.allSatisfy({ if case .success = $0 { true } else { false } }) else {
                Task {
                    let left = await attempt(envelope, localResults: results)
                    finished(envelope.id, leaving: left)
                }
                return
            }
            var done = envelope
            var notices: [Bouncer.Notice] = []
            apply(results, to: local, of: &done, notices: &notices)
            do {
                try spool.remove(envelope.id, updated: !fresh)
                logger.info("removed", metadata: ["queue_id": .string(envelope.id)])
            } catch {
                logger.error("cannot update the spool", metadata: ["queue_id": .string(envelope.id), "error": .string("\(error)")])
            }
            finished(envelope.id, leaving: nil)
        }
    }

    /// Stops scheduling new work and waits for deliveries under way, at most `grace` seconds: an
    /// attempt cut short is safe, as every recipient's state is in the spool and the next start
    /// tries again (a relayed message may then arrive twice, never not at all).
    public func shutdown(grace: Int64 = 30) async {
        let timers = state.withLockedValue { s -> [Scheduled<Void>] in
            s.stopped = true
            let t = Array(s.timers.values)
            s.timers = [:]
            return t
        }
        for t in timers { t.cancel() }
        let deadline = ContinuousClock.now + .seconds(grace)
        while ContinuousClock.now < deadline, !state.withLockedValue({ $0.running.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Deliveries already handed to the Maildir thread finish; later ones are refused (and
        // stay in the spool for the next start).
        let maildir = self.maildir
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                maildir.stop()
                done.resume()
            }
        }
    }

    /// Returns when no delivery is running (for tests and shutdown).
    public func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLockedValue { s -> Bool in
                if s.running.isEmpty { return true }
                s.idleWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }

    /// Tries now the messages waiting for a retry (all, or the one named); returns their ids.
    @discardableResult
    public func flush(_ id: String? = nil) -> [String] {
        let due = state.withLockedValue { s -> [String] in
            let ids = s.timers.keys.filter { id == nil || $0 == id }
            for i in ids { s.timers.removeValue(forKey: i)?.cancel() }
            return ids
        }
        for i in due {
            guard var envelope = try? spool.readEnvelope(i) else { continue }
            envelope.nextAttempt = nil
            enqueue(envelope)
        }
        return due
    }

    /// Takes a message out of the schedule so that it can be deleted or bounced; false while a
    /// delivery of it is under way.
    func withdraw(_ id: String) -> Bool {
        state.withLockedValue { s in
            guard !s.running.contains(id) else { return false }
            s.timers.removeValue(forKey: id)?.cancel()
            return true
        }
    }

    /// Bounces what is left of a message at the administrator's request (blocking).
    func bounceNow(_ id: String) throws -> Envelope? {
        var envelope = try spool.readEnvelope(id)
        let now = Int64(time(nil))
        var notices: [Bouncer.Notice] = []
        let reply = Reply(550, .init(5, 0, 0), "message returned to the sender by the mail system administrator")
        for i in envelope.recipients.indices where [.pending, .deferred].contains(envelope.recipients[i].status) {
            envelope.recipients[i].status = .failed
            notices.append(.init(index: i, action: .failed, reply: reply, relay: nil))
            log(envelope, i, status: "bounced", relay: nil, reply: reply, now: now)
        }
        let report = bouncer.report(envelope, notices, now: now)
        try spool.remove(id)
        if let report { enqueue(report) }
        return report
    }

    /// An attempt is over; `left` is the envelope it leaves in the spool (nil: the message is gone).
    /// Its next attempt is scheduled only now, once it no longer counts as running: a timer due at
    /// once, or a flush, can no longer land in between and be dropped. A request that came while
    /// it ran is carried out now.
    private func finished(_ id: String, leaving left: Envelope?) {
        let again = state.withLockedValue { s -> Bool in
            s.running.remove(id)
            return s.again.remove(id) != nil
        }
        if var left, !left.isFinished {
            if again {
                left.nextAttempt = nil
                enqueue(left)
            } else if let next = left.nextAttempt {
                schedule(left, in: next - Int64(time(nil)))
            }
        }
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            guard s.running.isEmpty else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        for w in waiters { w.resume() }
    }

    private func schedule(_ envelope: Envelope, in seconds: Int64) {
        state.withLockedValue { s in
            guard !s.stopped else { return }
            s.timers[envelope.id]?.cancel()
            s.timers[envelope.id] = eventLoop.scheduleTask(in: .seconds(max(0, seconds))) { [self] in
                state.withLockedValue { _ = $0.timers.removeValue(forKey: envelope.id) }
                var due = envelope
                due.nextAttempt = nil
                enqueue(due)
            }
        }
    }

    // MARK: One attempt

    /// `localResults`: the local recipients' outcomes when they were delivered already. Returns
    /// the envelope left in the spool (nil when the message is gone); the caller schedules.
    private func attempt(_ original: Envelope, localResults: MaildirDeliverer.Results? = nil) async -> Envelope? {
        var envelope = original
        var notices: [Bouncer.Notice] = []
        // Local recipients, in the Maildir deliverer's next batch.
        let (local, jobs) = localJobs(envelope)
        if !jobs.isEmpty {
            let results: MaildirDeliverer.Results
            if let localResults {
                results = localResults
            } else {
                results = await maildir.deliver(.file(path: spool.layout.dataPath(envelope.id), size: envelope.size), jobs: jobs)
            }
            apply(results, to: local, of: &envelope, notices: &notices)
        }
        // Local mailboxes of domains delivered by LMTP, a connection per server.
        if let lmtp {
            for (endpoint, indices) in lmtpRecipients(envelope) {
                for (i, o) in await lmtp.deliver(envelope, indices: indices, to: endpoint) {
                    apply(o.outcome, relay: o.relay, to: i, of: &envelope, notices: &notices)
                }
            }
        }
        // Remote recipients, through the relay.
        let remote = envelope.recipients.indices.filter { i in
            if case .remote = envelope.recipients[i].target { return [.pending, .deferred].contains(envelope.recipients[i].status) }
            return false
        }
        if !remote.isEmpty {
            if let relay {
                let outcomes = await relay.deliver(envelope, indices: remote)
                for (i, o) in outcomes {
                    apply(o.outcome, relay: o.relay, to: i, of: &envelope, notices: &notices)
                }
            }
        }
        let now = Int64(time(nil))
        // Lifetime over: what is still deferred fails now; a delay notice once (the ledger's rules).
        let closing = DeliveryLedger.close(&envelope, now: now, policy: policy)
        for n in closing where n.action == .failed { log(envelope, n.index, status: "bounced", relay: nil, reply: n.reply, now: now) }
        notices += closing
        let finalEnvelope = envelope
        let finalNotices = notices
        do {
            let report = try await threadPool.runIfActive { [self] () -> Envelope? in
                let report = finalNotices.isEmpty ? nil : bouncer.report(finalEnvelope, finalNotices, now: now)
                if finalEnvelope.isFinished {
                    try spool.remove(finalEnvelope.id)
                    logger.info("removed", metadata: ["queue_id": .string(finalEnvelope.id)])
                } else if finalEnvelope != original {
                    try spool.update(finalEnvelope)
                }
                return report
            }
            if let report { enqueue(report) }
        } catch {
            logger.error("cannot update the spool", metadata: ["queue_id": .string(envelope.id), "error": .string("\(error)")])
        }
        return finalEnvelope.isFinished ? nil : finalEnvelope
    }

    /// Records one recipient's outcome (the ledger's rules) and logs it; a deferral sets the next attempt.
    private func apply(_ outcome: RecipientOutcome, relay: String?, to i: Int, of envelope: inout Envelope, notices: inout [Bouncer.Notice]) {
        let now = Int64(time(nil))
        notices += DeliveryLedger.record(
            [.init(index: i, outcome: outcome, relay: relay)], in: &envelope, now: now, policy: policy, jitter: { Int64.random(in: 0...$0) })
        let status: String
        switch outcome {
        case .delivered: status = "sent"
        case .failed: status = "bounced"
        case .deferred: status = "deferred"
        }
        log(envelope, i, status: status, relay: relay, reply: outcome.reply, now: now)
    }

    /// The log line operators grep for: queue id, recipient, relay, delay, status code, outcome, reply.
    private func log(_ envelope: Envelope, _ i: Int, status: String, relay: String?, reply: Reply, now: Int64) {
        let r = envelope.recipients[i]
        logger.info(
            "\(status)",
            metadata: [
                "queue_id": .string(envelope.id), "to": .string(r.target.description), "orig_to": .string(r.original),
                "relay": .string(relay ?? (r.target.isRemote ? "none" : "local")), "delay": .string("\(now - envelope.arrivalTime)s"),
                "dsn": .string(reply.enhancedCode?.description ?? "\(reply.code / 100).0.0"), "status": .string(status),
                "reply": .string(reply.description),
            ])
    }

    /// The local recipients still to do (their indices) and their Maildir jobs.
    private func localJobs(_ envelope: Envelope) -> ([Int], [MaildirDeliverer.Job]) {
        var local: [Int] = []
        var jobs: [MaildirDeliverer.Job] = []
        let prefix = TraceHeaders.returnPath(envelope.sender)
        let snapshot = live.snapshot
        for i in envelope.recipients.indices where [.pending, .deferred].contains(envelope.recipients[i].status) {
            guard case .mailbox(let domain, let user) = envelope.recipients[i].target, snapshot.configuration.delivery(for: domain) == .maildir
            else { continue }
            local.append(i)
            jobs.append(.init(prefix: prefix, domain: domain, user: user))
        }
        return (local, jobs)
    }

    /// The local recipients still to do whose domain is delivered by LMTP, by server.
    private func lmtpRecipients(_ envelope: Envelope) -> [(ClientEndpoint, [Int])] {
        let snapshot = live.snapshot
        var groups: [(ClientEndpoint, [Int])] = []
        for i in envelope.recipients.indices where [.pending, .deferred].contains(envelope.recipients[i].status) {
            guard case .mailbox(let domain, _) = envelope.recipients[i].target, case .lmtp(let endpoint) = snapshot.configuration.delivery(for: domain)
            else { continue }
            if let k = groups.firstIndex(where: { $0.0 == endpoint }) { groups[k].1.append(i) } else { groups.append((endpoint, [i])) }
        }
        return groups
    }

    /// Records the Maildir deliveries' outcomes for these recipients.
    private func apply(_ results: MaildirDeliverer.Results, to local: [Int], of envelope: inout Envelope, notices: inout [Bouncer.Notice]) {
        for (i, result) in zip(local, results) {
            switch result {
            case .success:
                apply(.delivered(Reply(250, .init(2, 0, 0), "delivered to maildir")), relay: nil, to: i, of: &envelope, notices: &notices)
            case .failure(let error):
                apply(.deferred(Reply(451, .init(4, 3, 0), "local delivery failed: \(error)")), relay: nil, to: i, of: &envelope, notices: &notices)
            }
        }
    }
}
