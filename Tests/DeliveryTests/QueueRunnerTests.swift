import Foundation
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import Storage
import TestSupport
import Testing

@testable import Delivery

/// The queue's scheduler on a virtual clock, with targets that answer as told and a real spool:
/// retries, expiry, notices, flushes and shutdown in milliseconds, without a socket or a sleep.
@Suite struct QueueRunnerTests {
    static let start: Int64 = 1_800_000_000
    static let ok = Reply(250, .init(2, 0, 0), "ok")
    static let busy = Reply(451, .init(4, 3, 0), "busy")
    static let gone = Reply(550, .init(5, 1, 1), "no such user")

    /// A target that records each call and answers with `answer(call number, recipient)`; with
    /// `held`, it keeps each call's answer until `release()`.
    final class ScriptedTarget: DeliveryTarget, @unchecked Sendable {
        struct Call {
            var time: Int64
            var queueID: String
            var recipients: [RecipientID]
            var inMemory: Bool
        }
        private let lock = NIOLock()
        private var _calls: [Call] = []
        private var waiting: [() -> Void] = []
        let clock: ManualQueueClock
        let held: Bool
        let answer: @Sendable (Int, RecipientID) -> RecipientOutcome

        init(clock: ManualQueueClock, held: Bool = false, answer: @escaping @Sendable (Int, RecipientID) -> RecipientOutcome) {
            self.clock = clock
            self.held = held
            self.answer = answer
        }

        var calls: [Call] { lock.withLock { _calls } }

        func deliver(_ message: QueuedMessage, to recipients: [RecipientID], completion: @escaping @Sendable (TargetOutcomes) -> Void) {
            let number = lock.withLock {
                _calls.append(Call(time: clock.now(), queueID: message.envelope.id, recipients: recipients, inMemory: message.octets != nil))
                return _calls.count
            }
            var outcomes: TargetOutcomes = [:]
            for id in recipients { outcomes[id] = TargetOutcome(answer(number, id)) }
            let reply = outcomes
            if held {
                lock.withLock { waiting.append { completion(reply) } }
            } else {
                completion(reply)
            }
        }

        /// Answers the calls held so far.
        func release() {
            let answers = lock.withLock {
                defer { waiting = [] }
                return waiting
            }
            for a in answers { a() }
        }
    }

    final class Harness: @unchecked Sendable {
        let directory: String
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        let spool: Spool
        let clock = ManualQueueClock(now: QueueRunnerTests.start)
        let local: ScriptedTarget
        let relay: ScriptedTarget
        let runner: QueueRunner
        var settings: DeliverySettings

        /// `local`: how the Maildir target answers; remote recipients (and reports to remote
        /// senders) always go through `relay`, which delivers.
        init(held: Bool = false, local answer: @escaping @Sendable (Int, RecipientID) -> RecipientOutcome) throws {
            directory = try TestPaths.temporaryDirectory("queue-runner")
            threadPool.start()
            var logger = Logger(label: "queue-test")
            logger.logLevel = .critical
            spool = try Spool(root: directory + "/spool", threadPool: threadPool, logger: logger)
            settings = DeliverySettings(
                hostname: "mx.xyz.com", directory: LocalDirectory(domains: ["xyz.com": .init(users: ["carolyn", "dave"])]))
            settings.queue.policy = DeliveryLedger.Policy(retryMinimum: 600, retryMaximum: 3600, maxLifetime: 86400, delayWarning: 4 * 3600)
            local = ScriptedTarget(clock: clock, held: held, answer: answer)
            relay = ScriptedTarget(clock: clock) { _, _ in .delivered(QueueRunnerTests.ok) }
            let settings = self.settings
            let source: @Sendable () -> DeliverySettings = { settings }
            let (local, relay) = (self.local, self.relay)
            runner = QueueRunner(
                spool: spool, targets: DeliveryTargets(maildir: local, relay: relay, lmtp: { _ in relay }),
                bouncer: Bouncer(settings: source, spool: spool, logger: logger), threadPool: threadPool, clock: clock,
                settings: source, logger: logger, jitter: { _ in 0 })
        }

        /// A message from `sender` to these local users (`notify`: their NOTIFY).
        func store(
            to users: [String] = ["carolyn"], from sender: String = "alice@abcd.com", notify: String? = nil, protocolName: String = "ESMTPA"
        ) throws -> Envelope {
            try spool.store(Array("Subject: test\r\n\r\nbody\r\n".utf8)) { id, size in
                Envelope(
                    id: id, arrivalTime: clock.now(), size: size, sender: ReversePath.parse("<\(sender)>")!, clientAddress: "192.0.2.1",
                    heloName: "c", protocolName: protocolName,
                    recipients: users.map { EnvelopeRecipient(target: .mailbox(domain: "xyz.com", user: $0), original: "<\($0)@xyz.com>", notify: notify) })
            }
        }

        /// Moves the clock on and waits for the attempts that set off.
        func advance(by seconds: Int64) async {
            clock.advance(by: seconds)
            await runner.waitUntilIdle()
        }

        /// The messages in the spool other than `id`: the reports.
        func reports(besides id: String) throws -> [Envelope] { try spool.committed().filter { $0.id != id } }

        func stop() async {
            await runner.shutdown(grace: 5)
            spool.close()
            try? await threadPool.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// A message asked for again while its attempt runs (a retry timer due at once, a flush) is
    /// tried again when that attempt ends. It used to be dropped: the message then waited for a
    /// timer that had been cancelled, and was never tried again until a restart.
    @Test func aRequestDuringAnAttemptIsNotLost() async throws {
        let h = try Harness(held: true) { _, _ in .deferred(QueueRunnerTests.busy) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        h.runner.enqueue(envelope)  // lands while the first attempt runs
        #expect(h.local.calls.count == 1)
        h.local.release()
        // The second attempt starts as the first ends; it too is held.
        #expect(try await eventually { h.local.calls.count == 2 })
        h.local.release()
        await h.runner.waitUntilIdle()
        #expect(try h.spool.readEnvelope(envelope.id).recipients[0].attempts == 2)
        // Deferred, it waits for its retry: a timer, never a lost request.
        #expect(h.runner.scheduled == 1)
        #expect(h.runner.flush(envelope.id) == [envelope.id])
        h.local.release()
        await h.runner.waitUntilIdle()
        #expect(h.local.calls.count == 3)
        #expect(h.runner.flush(envelope.id) == [envelope.id])
        h.local.release()
        await h.runner.waitUntilIdle()
        #expect(try h.spool.readEnvelope(envelope.id).recipients[0].attempts == 4)
        await h.stop()
    }

    /// Deferred, a message is tried again after 600 s, 1,200 s, 2,400 s, then every 3,600 s (the
    /// maximum), never sooner; delivered, it leaves the spool, and nobody is told.
    @Test func retriesFollowTheBackoff() async throws {
        let h = try Harness { call, _ in call < 6 ? .deferred(QueueRunnerTests.busy) : .delivered(QueueRunnerTests.ok) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        await h.runner.waitUntilIdle()
        for wait: Int64 in [600, 1200, 2400, 3600, 3600] {
            let before = h.local.calls.count
            await h.advance(by: wait - 1)
            #expect(h.local.calls.count == before)
            await h.advance(by: 1)
            #expect(h.local.calls.count == before + 1)
        }
        #expect(h.local.calls.map { $0.time - Self.start } == [0, 600, 1800, 4200, 7800, 11400])
        #expect(!h.spool.contains(envelope.id))
        #expect(try h.reports(besides: envelope.id).isEmpty)
        #expect(h.runner.scheduled == 0)
        await h.stop()
    }

    /// Only the deferred recipient is tried again; the one delivered is not given twice.
    @Test func partialDeliveryRetriesOnlyWhatIsLeft() async throws {
        let dave = RecipientID(1)
        let h = try Harness { call, id in id == dave && call == 1 ? .deferred(QueueRunnerTests.busy) : .delivered(QueueRunnerTests.ok) }
        let envelope = try h.store(to: ["carolyn", "dave"])
        h.runner.enqueue(envelope, fresh: true)
        await h.runner.waitUntilIdle()
        let left = try h.spool.readEnvelope(envelope.id)
        #expect(left.recipients.map(\.status) == [.delivered, .deferred])
        await h.advance(by: 600)
        #expect(h.local.calls.map(\.recipients) == [[RecipientID(0), dave], [dave]])
        #expect(!h.spool.contains(envelope.id))
        await h.stop()
    }

    /// Still deferred when its lifetime ends, a recipient fails with 5.4.7 and the sender gets
    /// one failure report; the delay notice came once, at the warning time, before it.
    @Test func expiryBouncesOnceAfterOneDelayNotice() async throws {
        let h = try Harness { _, _ in .deferred(QueueRunnerTests.busy) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        await h.runner.waitUntilIdle()
        // Reports still in the spool after the last step: none, as the relay takes each at once.
        var reportsLeft = 0
        while h.spool.contains(envelope.id), h.clock.now() - Self.start < 2 * 86400 {
            await h.advance(by: 600)
            reportsLeft = try h.reports(besides: envelope.id).count
        }
        #expect(!h.spool.contains(envelope.id))
        // Reports go to the sender's domain through the relay, which takes them at once.
        let reports = h.relay.calls
        try #require(reports.count == 2, "one delay notice, one failure report")
        #expect(reports[0].time - Self.start >= 4 * 3600 && reports[0].time - Self.start < 5 * 3600)
        #expect(reports[1].time - Self.start >= 86400)
        #expect(reportsLeft == 0)
        // The last attempt is the first at or after the lifetime; none after it.
        let last = h.local.calls.last!.time - Self.start
        #expect(last >= 86400 && last < 86400 + 3600)
        let count = h.local.calls.count
        await h.advance(by: 86400)
        #expect(h.local.calls.count == count)
        await h.stop()
    }

    /// NOTIFY=NEVER: an expired message leaves without a report.
    @Test func notifyNeverSendsNoReport() async throws {
        let h = try Harness { _, _ in .failed(QueueRunnerTests.gone) }
        let envelope = try h.store(notify: "NEVER")
        h.runner.enqueue(envelope, fresh: true)
        await h.runner.waitUntilIdle()
        #expect(!h.spool.contains(envelope.id))
        #expect(h.relay.calls.isEmpty)
        await h.stop()
    }

    /// A permanent failure is reported at once; the report (from `<>`) is queued like any
    /// message and delivered, and never itself reported on.
    @Test func aFailureIsReportedAtOnce() async throws {
        let h = try Harness { _, _ in .failed(QueueRunnerTests.gone) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        #expect(try await eventually { h.relay.calls.count == 1 })
        await h.runner.waitUntilIdle()
        #expect(try h.spool.committed().isEmpty)
        await h.stop()
    }

    /// A fresh message goes to its target with the octets still in memory; a recovered one is
    /// read from the spool.
    @Test func freshMessagesAreDeliveredFromMemory() async throws {
        let h = try Harness { _, _ in .delivered(QueueRunnerTests.ok) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, octets: [ByteBuffer(string: "Subject: test\r\n\r\nbody\r\n")], fresh: true)
        await h.runner.waitUntilIdle()
        let recovered = try h.store(to: ["dave"])
        h.runner.enqueue(recovered)
        await h.runner.waitUntilIdle()
        #expect(h.local.calls.map(\.inMemory) == [true, false])
        await h.stop()
    }

    /// After shutdown no timer runs an attempt, and a message enqueued is left in the spool.
    @Test func shutdownStopsTheSchedule() async throws {
        let h = try Harness { _, _ in .deferred(QueueRunnerTests.busy) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        await h.runner.waitUntilIdle()
        await h.runner.shutdown(grace: 1)
        #expect(h.clock.pending == 0)
        await h.advance(by: 7200)
        h.runner.enqueue(try h.store(to: ["dave"]), fresh: true)
        #expect(h.local.calls.count == 1)
        #expect(try h.spool.committed().count == 2)
        await h.stop()
    }

    /// Shutdown waits for attempts under way only as long as its grace: one that hangs (a server
    /// that never answers) does not hold the process. The message stays in the spool.
    @Test func shutdownDoesNotWaitPastItsGrace() async throws {
        let h = try Harness(held: true) { _, _ in .delivered(QueueRunnerTests.ok) }
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        let done = NIOLockedValueBox(false)
        let stopping = Task {
            await h.runner.shutdown(grace: 0)
            done.withLockedValue { $0 = true }
        }
        // The attempt is held until released below, so a shutdown that waited for it would never
        // end: the bound only allows for a machine busy with the other tests.
        let inTime = try await eventually(30) { done.withLockedValue { $0 } }
        #expect(inTime, "shutdown waited for an attempt past its grace")
        if inTime { #expect(h.spool.contains(envelope.id)) }
        h.local.release()  // (without the bound, only this ends the shutdown)
        await stopping.value
        await h.stop()
    }

    /// A message recovered with a next attempt in the future waits for it.
    @Test func aRecoveredMessageWaitsForItsTime() async throws {
        let h = try Harness { _, _ in .delivered(QueueRunnerTests.ok) }
        var envelope = try h.store()
        envelope.nextAttempt = Self.start + 300
        h.runner.enqueue(envelope)
        await h.advance(by: 299)
        #expect(h.local.calls.isEmpty)
        await h.advance(by: 1)
        #expect(h.local.calls.count == 1)
        await h.stop()
    }
}
