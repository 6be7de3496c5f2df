#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import Storage

/// Takes committed messages from the spool and delivers each recipient: local ones into their
/// Maildirs now, remote ones when the relay exists (they wait in the queue, deferred). A local
/// delivery that fails is retried with exponential backoff. A message leaves the spool only when
/// every recipient is done.
public final class QueueRunner: Sendable {
    private let spool: Spool
    private let maildir: MaildirWriter
    private let threadPool: NIOThreadPool
    private let eventLoop: EventLoop
    private let logger: Logger
    private let retryMinimum: Int64
    private let retryMaximum: Int64

    private struct State {
        var running: Set<String> = []
        var timers: [String: Scheduled<Void>] = [:]
        var stopped = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    public init(
        spool: Spool, maildir: MaildirWriter, threadPool: NIOThreadPool, eventLoop: EventLoop, logger: Logger,
        retryMinimum: Int, retryMaximum: Int
    ) {
        self.spool = spool
        self.maildir = maildir
        self.threadPool = threadPool
        self.eventLoop = eventLoop
        self.logger = logger
        self.retryMinimum = Int64(retryMinimum)
        self.retryMaximum = Int64(retryMaximum)
    }

    /// Delivers a freshly committed (or recovered) message, or schedules it for its next attempt.
    public func enqueue(_ envelope: Envelope) {
        let now = Int64(time(nil))
        if let next = envelope.nextAttempt, next > now {
            schedule(envelope, in: next - now)
            return
        }
        let start = state.withLockedValue { s -> Bool in
            guard !s.stopped, !s.running.contains(envelope.id) else { return false }
            s.running.insert(envelope.id)
            return true
        }
        guard start else { return }
        threadPool.submit { [self] work in
            if work == .active { attempt(envelope) }
            finished(envelope.id)
        }
    }

    /// Stops scheduling new work and waits for deliveries under way.
    public func shutdown() async {
        let timers = state.withLockedValue { s -> [Scheduled<Void>] in
            s.stopped = true
            let t = Array(s.timers.values)
            s.timers = [:]
            return t
        }
        for t in timers { t.cancel() }
        await waitUntilIdle()
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

    private func finished(_ id: String) {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.running.remove(id)
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
            s.timers[envelope.id] = eventLoop.scheduleTask(in: .seconds(seconds)) { [self] in
                state.withLockedValue { _ = $0.timers.removeValue(forKey: envelope.id) }
                var due = envelope
                due.nextAttempt = nil
                enqueue(due)
            }
        }
    }

    /// One delivery attempt for every local recipient still to do (blocking; thread pool).
    private func attempt(_ original: Envelope) {
        var envelope = original
        let fd: Int32
        do {
            fd = try spool.openMessage(envelope.id)
        } catch {
            spool.quarantine(envelope.id, reason: "message file cannot be opened: \(error)")
            return
        }
        defer { close(fd) }
        let now = Int64(time(nil))
        var changed = false
        var retryLocal = false
        for index in envelope.recipients.indices {
            var r = envelope.recipients[index]
            guard r.status == .pending || r.status == .deferred else { continue }
            switch r.target {
            case .mailbox(let domain, let user):
                r.attempts += 1
                do {
                    let prefix = TraceHeaders.returnPath(envelope.sender)
                    let path = try maildir.deliver(prefix: prefix, sourceFD: fd, domain: domain, user: user)
                    r.status = .delivered
                    r.lastError = nil
                    logger.info(
                        "delivered",
                        metadata: [
                            "queue_id": .string(envelope.id), "to": .string("\(user)@\(domain)"), "orig_to": .string(r.original),
                            "relay": "local", "delay": .string("\(now - envelope.arrivalTime)s"), "dsn": "2.0.0",
                            "status": "sent", "path": .string(path),
                        ])
                } catch {
                    r.status = .deferred
                    r.lastError = "local delivery failed: \(error)"
                    retryLocal = true
                    logger.warning(
                        "delivery deferred",
                        metadata: [
                            "queue_id": .string(envelope.id), "to": .string("\(user)@\(domain)"), "relay": "local",
                            "dsn": "4.3.0", "status": "deferred", "error": .string("\(error)"),
                        ])
                }
                changed = true
            case .remote(let mailbox):
                if r.status == .pending {
                    r.status = .deferred
                    r.lastError = "relay to other machines is not enabled in this version"
                    changed = true
                    logger.notice(
                        "delivery deferred",
                        metadata: [
                            "queue_id": .string(envelope.id), "to": .string(mailbox.description), "status": "deferred",
                            "error": .string(r.lastError!),
                        ])
                }
            }
            envelope.recipients[index] = r
        }
        do {
            if envelope.isFinished {
                try spool.remove(envelope.id)
                logger.info("removed", metadata: ["queue_id": .string(envelope.id)])
            } else if changed || retryLocal {
                if retryLocal {
                    let attempts = envelope.recipients.map(\.attempts).max() ?? 1
                    envelope.nextAttempt = now + backoff(attempts: attempts)
                }
                try spool.update(envelope)
                if retryLocal { schedule(envelope, in: envelope.nextAttempt! - now) }
            }
        } catch {
            logger.error("cannot update the spool", metadata: ["queue_id": .string(envelope.id), "error": .string("\(error)")])
        }
    }

    /// Exponential backoff between the configured minimum and maximum, with up to 10% jitter so
    /// that messages deferred together do not return together.
    func backoff(attempts: Int) -> Int64 {
        let exponent = min(max(attempts - 1, 0), 20)
        let base = min(retryMaximum, retryMinimum << Int64(exponent))
        let jitter = Int64.random(in: 0...max(1, base / 10))
        return min(retryMaximum, base + jitter)
    }
}
