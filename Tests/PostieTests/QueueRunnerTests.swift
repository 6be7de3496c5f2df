import Foundation
import Logging
import MailCore
import NIOCore
import NIOPosix
import SMTPCore
import Storage
import TestSupport
import Testing

@testable import Postie

/// The queue runner on its own, with a real spool and Maildirs and no relay.
@Suite struct QueueRunnerTests {
    /// A runner over a fresh data folder whose mailbox `xyz.com/carolyn` cannot be written (its
    /// folder is a file), so that every delivery to it is deferred.
    final class Harness: @unchecked Sendable {
        let directory: String
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        let spool: Spool
        let runner: QueueRunner

        init() throws {
            directory = try TestPaths.temporaryDirectory("queue-runner")
            threadPool.start()
            var config = TestServer.configuration(dataDirectory: directory)
            config.retryMinimum = 600
            config.retryMaximum = 3600
            var logger = Logger(label: "queue-test")
            logger.logLevel = .critical
            spool = try Spool(root: directory + "/spool", threadPool: threadPool, logger: logger)
            try FileManager.default.createDirectory(atPath: directory + "/mail/xyz.com", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: directory + "/mail/xyz.com/carolyn", contents: Data("not a folder".utf8))
            let maildir = try MaildirDeliverer(writer: MaildirWriter(root: directory + "/mail", hostname: "mx.test"))
            let live = LiveConfiguration(config)
            runner = QueueRunner(
                spool: spool, maildir: maildir, relay: nil, bouncer: Bouncer(live: live, spool: spool, logger: logger),
                threadPool: threadPool, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger, live: live)
        }

        func store() throws -> Envelope {
            try spool.store(Array("Subject: deferred\r\n\r\nbody\r\n".utf8)) { id, size in
                Envelope(
                    id: id, arrivalTime: Int64(time(nil)), size: size, sender: .null, clientAddress: "192.0.2.1", heloName: "c",
                    protocolName: "ESMTP",
                    recipients: [EnvelopeRecipient(target: .mailbox(domain: "xyz.com", user: "carolyn"), original: "<carolyn@xyz.com>")])
            }
        }

        func attempts(_ id: String) throws -> Int { try spool.readEnvelope(id).recipients[0].attempts }

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
        let h = try Harness()
        let envelope = try h.store()
        h.runner.enqueue(envelope, fresh: true)
        h.runner.enqueue(envelope)  // lands while the first attempt runs
        await h.runner.waitUntilIdle()
        #expect(try h.attempts(envelope.id) == 2)
        // Deferred, it waits for its retry; a flush tries it now, once.
        #expect(h.runner.flush(envelope.id) == [envelope.id])
        await h.runner.waitUntilIdle()
        #expect(try h.attempts(envelope.id) == 3)
        #expect(try h.spool.readEnvelope(envelope.id).recipients[0].status == .deferred)
        // And it is scheduled again: a second flush finds it waiting.
        #expect(h.runner.flush(envelope.id) == [envelope.id])
        await h.runner.waitUntilIdle()
        #expect(try h.attempts(envelope.id) == 4)
        await h.stop()
    }
}
