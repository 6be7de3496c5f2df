import Foundation
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import Storage

/// The delivery targets, and which one each recipient goes to: local mailboxes to the Maildirs
/// or to their domain's LMTP server, everything else to the relay.
public struct DeliveryTargets: Sendable {
    public var maildir: any DeliveryTarget
    public var relay: any DeliveryTarget
    public var lmtp: @Sendable (ClientEndpoint) -> any DeliveryTarget

    public init(
        maildir: any DeliveryTarget, relay: any DeliveryTarget, lmtp: @escaping @Sendable (ClientEndpoint) -> any DeliveryTarget
    ) {
        self.maildir = maildir
        self.relay = relay
        self.lmtp = lmtp
    }

    enum Key: Hashable {
        case maildir, relay
        case lmtp(ClientEndpoint)

        /// Which target takes a recipient, by the settings of its domain.
        init(_ target: Destination, _ settings: DeliverySettings) {
            switch target {
            case .remote: self = .relay
            case .mailbox(let domain, _):
                switch settings.delivery(for: domain) {
                case .maildir: self = .maildir
                case .lmtp(let endpoint): self = .lmtp(endpoint)
                }
            }
        }

        /// The target's name in logs and metrics.
        var name: String {
            switch self {
            case .maildir: return "maildir"
            case .relay: return "relay"
            case .lmtp: return "lmtp"
            }
        }
    }

    /// The waiting recipients grouped by target, in envelope order.
    func route(_ envelope: Envelope, _ settings: DeliverySettings) -> [(any DeliveryTarget, [RecipientID])] {
        var groups: [(Key, [RecipientID])] = []
        for id in envelope.waitingIDs {
            let key = Key(envelope[id].target, settings)
            if let k = groups.firstIndex(where: { $0.0 == key }) { groups[k].1.append(id) } else { groups.append((key, [id])) }
        }
        return groups.map { key, ids in
            switch key {
            case .maildir: return (maildir, ids)
            case .relay: return (relay, ids)
            case .lmtp(let endpoint): return (lmtp(endpoint), ids)
            }
        }
    }
}

/// Takes committed messages from the spool and has their recipients delivered by the targets.
/// One attempt of a message gives each target its recipients at once, gathers the outcomes,
/// applies the queue's policy (`DeliveryLedger`: retry with backoff and jitter, lifetime, one
/// delay notice, reports) and makes the result durable: a message leaves the spool only when
/// every recipient is done, durably before the attempt counts as finished. The next attempt is
/// set on the injected clock (`QueueClock`), so that tests drive retries and expiry in virtual
/// time with targets that fail as told.
///
/// A message is never in two attempts at once; asked for again while one runs (a flush, a timer
/// due), it is tried again as soon as that one ends, with the envelope it leaves.
public final class QueueRunner: Sendable {
    private let spool: Spool
    private let targets: DeliveryTargets
    private let bouncer: Bouncer
    private let threadPool: NIOThreadPool
    private let clock: any QueueClock
    private let jitter: @Sendable (Int64) -> Int64
    private let logger: Logger
    /// Read at each attempt: a reload applies from the next one.
    private let settings: @Sendable () -> DeliverySettings
    /// Told of each recipient's outcome, for metrics.
    private let observe: (@Sendable (DeliveryEvent) -> Void)?

    /// One recipient's outcome of an attempt, as metrics count it.
    public struct DeliveryEvent: Sendable {
        /// `maildir`, `lmtp` or `relay`.
        public var target: String
        /// `sent`, `deferred` or `bounced`, as the log says.
        public var result: String
        /// Seconds since the message arrived.
        public var delay: Int64
        /// Seconds the attempt took, from its start to its last outcome (nil: no attempt, the
        /// lifetime ran out).
        public var attemptSeconds: Double?
    }

    private struct State {
        var running: Set<String> = []
        /// Asked for again while an attempt was under way: tried again as soon as it ends.
        var again: Set<String> = []
        /// Each waiting message's timer and the envelope it will try.
        var timers: [String: (timer: QueueTimer, envelope: Envelope)] = [:]
        /// Messages held by the administrator, with their arrival time: never tried until released.
        var held: [String: Int64] = [:]
        var stopped = false
        /// Called once when no attempt runs any more.
        var idleWaiters: [@Sendable () -> Void] = []
    }
    private let state = NIOLockedValueBox(State())

    /// `jitter(n)` returns a number in `0...n` (random, unless a test says otherwise).
    public init(
        spool: Spool, targets: DeliveryTargets, bouncer: Bouncer, threadPool: NIOThreadPool, clock: any QueueClock,
        settings: @escaping @Sendable () -> DeliverySettings, logger: Logger,
        jitter: @escaping @Sendable (Int64) -> Int64 = { Int64.random(in: 0...$0) },
        observe: (@Sendable (DeliveryEvent) -> Void)? = nil
    ) {
        self.observe = observe
        self.spool = spool
        self.targets = targets
        self.bouncer = bouncer
        self.threadPool = threadPool
        self.clock = clock
        self.settings = settings
        self.logger = logger
        self.jitter = jitter
    }

    /// Delivers a freshly committed (or recovered) message now, or schedules it for its next
    /// attempt. `octets`: the message, while the spool writer still has it in memory; `fresh`: it
    /// was just committed (so its envelope was never updated).
    public func enqueue(_ envelope: Envelope, octets: [ByteBuffer]? = nil, fresh: Bool = false) {
        if envelope.held {
            state.withLockedValue { $0.held[envelope.id] = envelope.arrivalTime }
            return
        }
        if let next = envelope.nextAttempt, next > clock.now() {
            schedule(envelope)
            return
        }
        let start = state.withLockedValue { s -> Bool in
            guard !s.stopped else { return false }
            if s.running.contains(envelope.id) {
                s.again.insert(envelope.id)
                return false
            }
            // This attempt replaces any that was scheduled.
            s.timers.removeValue(forKey: envelope.id)?.timer.cancel()
            s.running.insert(envelope.id)
            return true
        }
        guard start else { return }
        attempt(QueuedMessage(envelope, octets: octets), fresh: fresh)
    }

    /// Stops scheduling new work and waits for deliveries under way, at most `grace` seconds: an
    /// attempt cut short is safe, as every recipient's state is in the spool and the next start
    /// tries again (a relayed message may then arrive twice, never not at all).
    public func shutdown(grace: Int64) async {
        let timers = state.withLockedValue { s -> [QueueTimer] in
            s.stopped = true
            defer { s.timers = [:] }
            return s.timers.values.map(\.timer)
        }
        for t in timers { t.cancel() }
        await waitUntilIdle(atMost: .seconds(grace))
    }

    /// Returns when no delivery is running.
    public func waitUntilIdle() async {
        await waitUntilIdle(atMost: nil)
    }

    /// Returns when no delivery is running, or once `limit` has passed (wall time: it bounds a
    /// shutdown, it is no policy), whichever comes first.
    private func waitUntilIdle(atMost limit: Duration?) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumed = NIOLockedValueBox(false)
            let resume: @Sendable () -> Void = {
                if resumed.withLockedValue({ r in defer { r = true }; return !r }) { c.resume() }
            }
            let idle = state.withLockedValue { s -> Bool in
                if s.running.isEmpty { return true }
                s.idleWaiters.append(resume)
                return false
            }
            if idle { return resume() }
            if let limit {
                Task {
                    try? await Task.sleep(for: limit)
                    resume()
                }
            }
        }
    }

    /// Tries now the messages waiting for a retry (all, or the one named); returns their ids.
    @discardableResult
    public func flush(_ id: String? = nil) -> [String] {
        let due = state.withLockedValue { s -> [Envelope] in
            let ids = s.timers.keys.filter { id == nil || $0 == id }
            return ids.compactMap { i in
                guard let (timer, envelope) = s.timers.removeValue(forKey: i) else { return nil }
                timer.cancel()
                return envelope
            }
        }
        for var envelope in due {
            envelope.nextAttempt = nil
            enqueue(envelope)
        }
        return due.map(\.id)
    }

    /// Takes a message out of the schedule so that it can be deleted or bounced; false while a
    /// delivery of it is under way.
    public func withdraw(_ id: String) -> Bool {
        state.withLockedValue { s in
            guard !s.running.contains(id) else { return false }
            s.timers.removeValue(forKey: id)?.timer.cancel()
            s.held.removeValue(forKey: id)
            return true
        }
    }

    /// Holds a message (blocking: its envelope is updated): it is not tried again until released.
    /// Fails while a delivery of it is under way.
    public func hold(_ id: String) throws -> Bool {
        guard withdraw(id) else { return false }
        var envelope = try spool.readEnvelope(id)
        if !envelope.held {
            envelope.held = true
            try spool.update(envelope)
        }
        state.withLockedValue { $0.held[id] = envelope.arrivalTime }
        logger.notice("held by the administrator", metadata: ["queue_id": .string(id)])
        return true
    }

    /// Releases a held message (blocking: its envelope is updated) and tries it at once; false
    /// when it was not held.
    public func release(_ id: String) throws -> Bool {
        var envelope = try spool.readEnvelope(id)
        guard envelope.held else { return false }
        envelope.held = false
        envelope.nextAttempt = nil
        try spool.update(envelope)
        state.withLockedValue { _ = $0.held.removeValue(forKey: id) }
        logger.notice("released by the administrator", metadata: ["queue_id": .string(id)])
        enqueue(envelope)
        return true
    }

    /// Bounces what is left of a message at the administrator's request (blocking).
    public func bounceNow(_ id: String) throws -> Envelope? {
        var envelope = try spool.readEnvelope(id)
        let now = clock.now()
        var notices: [DeliveryLedger.Notice] = []
        let status = DeliveryVerdicts.returnedByAdministrator
        for i in envelope.waitingIDs {
            envelope[i].status = .failed
            notices.append(.init(i, action: .failed, status: status, relay: nil))
            log(envelope, i, relay: nil, status: status, now: now)
        }
        let report = bouncer.report(envelope, notices, now: now)
        try spool.remove(id)
        if let report { enqueue(report) }
        return report
    }

    /// Messages whose next attempt waits on a timer.
    public var scheduled: Int { state.withLockedValue { $0.timers.count } }

    /// What the queue holds now, for metrics: messages in an attempt, messages waiting for their
    /// next, messages held, and the arrival time of the oldest waiting or held one.
    public var statistics: QueueStatistics {
        state.withLockedValue { s in
            QueueStatistics(
                active: s.running.count, deferred: s.timers.count, held: s.held.count,
                oldestArrival: (s.timers.values.map(\.envelope.arrivalTime) + s.held.values).min())
        }
    }

    // MARK: One attempt

    /// Gives each target its recipients; concludes once all have answered.
    private func attempt(_ message: QueuedMessage, fresh: Bool) {
        let settings = self.settings()
        let groups = targets.route(message.envelope, settings)
        let started = ContinuousClock.now
        let join = OutcomeJoin(parts: groups.count) { [self] outcomes in
            // How long the attempt took (wall time: a figure for metrics, no policy).
            conclude(message.envelope, outcomes, fresh: fresh, settings: settings, took: (ContinuousClock.now - started) / .seconds(1))
        }
        for (target, ids) in groups { target.deliver(message, to: ids, completion: join.add) }
    }

    /// Records the outcomes (the ledger's rules), logs them, and makes the result durable: the
    /// message removed when every recipient is done, else its envelope updated; reports stored.
    private func conclude(_ original: Envelope, _ outcomes: TargetOutcomes, fresh: Bool, settings: DeliverySettings, took: Double) {
        var envelope = original
        let now = clock.now()
        let policy = settings.queue.policy
        let recorded = outcomes.keys.sorted().map { DeliveryLedger.Outcome($0, outcomes[$0]!.status, relay: outcomes[$0]!.relay) }
        var notices = DeliveryLedger.record(recorded, in: &envelope, now: now, policy: policy, jitter: jitter)
        for o in recorded {
            log(envelope, o.recipient, relay: o.relay, status: o.status, now: now)
            observe(envelope, o.recipient, o.status, now: now, settings: settings, took: took)
        }
        // Lifetime over: what is still deferred fails now; a delay notice once.
        let closing = DeliveryLedger.close(&envelope, now: now, policy: policy)
        for n in closing where n.action == .failed {
            log(envelope, n.recipient, relay: nil, status: n.status, now: now)
            observe(envelope, n.recipient, n.status, now: now, settings: settings, took: nil)
        }
        notices += closing
        let due = bouncer.due(envelope, notices)
        // The common case: done, nobody to tell. Removed with others in one sync, no pool thread.
        if envelope.isFinished && due.isEmpty { return remove(envelope.id, updated: !fresh) }
        let final = envelope
        threadPool.submit { [self] _ in
            // The report is stored before the message goes: a crash between the two reports twice,
            // never not at all.
            if !due.isEmpty, let report = bouncer.report(final, due, now: now) { enqueue(report) }
            if final.isFinished { return remove(final.id, updated: !fresh) }
            do {
                if final != original { try spool.update(final) }
            } catch {
                logger.error("cannot update the spool", metadata: ["queue_id": .string(final.id), "error": .string("\(error)")])
            }
            finished(final.id, leaving: final)
        }
    }

    /// Removes a finished message durably (sharing the sync with other removals), then ends its
    /// attempt.
    private func remove(_ id: String, updated: Bool) {
        spool.removeDurably(id, updated: updated) { [self] error in
            if let error {
                logger.error("cannot update the spool", metadata: ["queue_id": .string(id), "error": .string("\(error)")])
            } else {
                logger.info("removed", metadata: ["queue_id": .string(id)])
            }
            finished(id, leaving: nil)
        }
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
        if var left {
            if again {
                left.nextAttempt = nil
                enqueue(left)
            } else {
                schedule(left)
            }
        }
        let waiters = state.withLockedValue { s -> [@Sendable () -> Void] in
            guard s.running.isEmpty else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        for w in waiters { w() }
    }

    /// Sets a timer for the message's next attempt (at once when it has none).
    private func schedule(_ envelope: Envelope) {
        let seconds = (envelope.nextAttempt ?? 0) - clock.now()
        state.withLockedValue { s in
            guard !s.stopped else { return }
            s.timers[envelope.id]?.timer.cancel()
            let timer = clock.schedule(in: seconds) { [self] in
                state.withLockedValue { _ = $0.timers.removeValue(forKey: envelope.id) }
                var due = envelope
                due.nextAttempt = nil
                enqueue(due)
            }
            s.timers[envelope.id] = (timer, envelope)
        }
    }

    private func observe(
        _ envelope: Envelope, _ i: RecipientID, _ status: DeliveryStatus, now: Int64, settings: DeliverySettings, took: Double?
    ) {
        guard let observe else { return }
        let target = DeliveryTargets.Key(envelope[i].target, settings).name
        observe(DeliveryEvent(target: target, result: status.logWord, delay: now - envelope.arrivalTime, attemptSeconds: took))
    }

    /// The log line operators grep for: queue id, recipient, relay, delay, status code, outcome, and
    /// `reply=` the server's reply as it said it, or `reason=` Postie's own words when no server
    /// decided (a refused connection is no reply).
    private func log(_ envelope: Envelope, _ i: RecipientID, relay: String?, status: DeliveryStatus, now: Int64) {
        let r = envelope[i]
        let word = status.logWord
        var metadata: Logger.Metadata = [
            "queue_id": .string(envelope.id), "to": .string(r.target.description), "orig_to": .string(r.original),
            "relay": .string(relay ?? (r.target.isRemote ? "none" : "local")), "delay": .string("\(now - envelope.arrivalTime)s"),
            "dsn": .string(status.code.description), "status": .string(word),
        ]
        if let reply = status.remoteReply { metadata["reply"] = .string(reply.description) } else { metadata["reason"] = .string(status.text) }
        logger.info("\(word)", metadata: metadata)
    }
}

/// The queue's figures at one moment (for metrics).
public struct QueueStatistics: Sendable, Equatable {
    /// Messages in an attempt.
    public var active = 0
    /// Messages waiting for their next attempt.
    public var deferred = 0
    /// Messages held by the administrator.
    public var held = 0
    /// Arrival time of the oldest message waiting or held.
    public var oldestArrival: Int64?

    public init(active: Int = 0, deferred: Int = 0, held: Int = 0, oldestArrival: Int64? = nil) {
        self.active = active
        self.deferred = deferred
        self.held = held
        self.oldestArrival = oldestArrival
    }
}

extension DeliveryStatus {
    /// The word the log says, as Postfix's: `sent`, `deferred`, `bounced`.
    var logWord: String {
        switch kind {
        case .delivered: return "sent"
        case .deferred: return "deferred"
        case .failed: return "bounced"
        }
    }
}
