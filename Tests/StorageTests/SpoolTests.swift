import Foundation
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
@testable import Storage
import TestSupport
import Testing

@Suite struct SpoolTests {
    static func envelope(_ id: String, _ size: Int) -> Envelope {
        Envelope(
            id: id, arrivalTime: 1_796_000_000, size: size, sender: .mailbox(Mailbox(localPart: "a", domain: "b.example")),
            clientAddress: "127.0.0.1", heloName: "c", protocolName: "ESMTP",
            recipients: [EnvelopeRecipient(target: .mailbox(domain: "xyz.com", user: "carolyn"), original: "<carolyn@xyz.com>")])
    }

    func withSpool(_ body: (Spool, String, EventLoop) async throws -> Void) async throws {
        let dir = try TestPaths.temporaryDirectory("spool")
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let spool = try Spool(root: dir, threadPool: pool, logger: Logger(label: "test"))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        do {
            try await body(spool, dir, loop)
        } catch {
            spool.close()
            try await pool.shutdownGracefully()
            throw error
        }
        spool.close()
        try await pool.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func store(_ spool: Spool, _ loop: EventLoop, _ parts: [String]) async throws -> Envelope {
        try await loop.flatSubmit {
            let writer = spool.makeWriter(eventLoop: loop)
            for p in parts { writer.write(ByteBuffer(string: p)) }
            return writer.commit { id, size in Self.envelope(id, size) }
        }.get().envelope
    }

    @Test func commitWritesMessageAndEnvelope() async throws {
        try await withSpool { spool, dir, loop in
            let e = try await store(spool, loop, ["Subject: x\r\n", "\r\n", "body\r\n"])
            #expect(e.size == 20)
            // One file: the message, then the envelope it was committed with.
            let file = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/msg/" + e.id)))
            let expectedStart = Array(("Subject: x\r\n\r\nbody\r\n" + e.encoded()).utf8)
            #expect(Array(file.prefix(expectedStart.count)) == expectedStart)
            #expect(Array(file.suffix(8)) == Array("POSTIENV".utf8))
            #expect(file.count == expectedStart.count + 16)
            #expect(try spool.readMessage(e, limit: 1000) == Array("Subject: x\r\n\r\nbody\r\n".utf8))
            #expect(try spool.readMessage(e, limit: 7) == Array("Subject".utf8))
            let back = try spool.readEnvelope(e.id); #expect(back == e, "\(back.encoded()) vs \(e.encoded())")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/tmp").isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/env").isEmpty)
            #expect(try spool.committed().map(\.id) == [e.id])
        }
    }

    @Test func emptyMessageCommits() async throws {
        try await withSpool { spool, dir, loop in
            let e = try await store(spool, loop, [])
            #expect(e.size == 0)
            #expect(FileManager.default.fileExists(atPath: dir + "/msg/" + e.id))
        }
    }

    @Test func abortLeavesNothing() async throws {
        try await withSpool { spool, dir, loop in
            try await loop.submit {
                let writer = spool.makeWriter(eventLoop: loop)
                writer.write(ByteBuffer(string: "partial"))
                writer.abort()
            }.get()
            // The removal runs on the thread pool; give it a moment, bounded.
            for _ in 0..<100 where !Spool.messageFiles(root: dir).isEmpty {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(Spool.messageFiles(root: dir).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/env").isEmpty)
        }
    }

    @Test func smallMessagesAreWrittenAtCommitLargeOnesStream() async throws {
        try await withSpool { spool, dir, loop in
            let chunk = String(repeating: "y", count: 1022) + "\r\n"
            let count = SpoolWriter.inMemoryLimit / chunk.utf8.count + 2
            for (parts, inMemory) in [(["Subject: s\r\n\r\n", "small\r\n"], true), (Array(repeating: chunk, count: count), false)] {
                let committed = try await loop.flatSubmit {
                    let writer = spool.makeWriter(eventLoop: loop)
                    for p in parts { writer.write(ByteBuffer(string: p)) }
                    return writer.commit { id, size in Self.envelope(id, size) }
                }.get()
                let expected = Array(parts.joined().utf8)
                #expect(committed.envelope.size == expected.count)
                // The octets come back with the envelope only when they were held in memory.
                #expect((committed.message != nil) == inMemory)
                if let held = committed.message { #expect(held.reduce(into: [UInt8]()) { $0 += $1.readableBytesView } == expected) }
                #expect(try spool.readMessage(committed.envelope, limit: .max) == expected)
                #expect(try spool.readEnvelope(committed.envelope.id) == committed.envelope)
            }
            // A large message given up on is removed, even though parts of it reached its file.
            try await loop.submit {
                let writer = spool.makeWriter(eventLoop: loop)
                for _ in 0..<count { writer.write(ByteBuffer(string: chunk)) }
                writer.abort()
            }.get()
            for _ in 0..<200 where Spool.messageFiles(root: dir).count > 2 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(Spool.messageFiles(root: dir).count == 2)
        }
    }

    @Test func concurrentCommitsAllSucceed() async throws {
        try await withSpool { spool, dir, loop in
            let group = MultiThreadedEventLoopGroup.singleton
            let ids = try await withThrowingTaskGroup(of: String.self) { tasks in
                for i in 0..<100 {
                    tasks.addTask {
                        let l = group.next()
                        return try await store(spool, l, ["Subject: \(i)\r\n\r\n", String(repeating: "x", count: i) + "\r\n"]).id
                    }
                }
                return try await tasks.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(ids.count == 100)
            #expect(try spool.recover().count == 100)
        }
    }

    @Test func recoveryKeepsCommittedDropsIncompleteAndQuarantinesDamaged() async throws {
        try await withSpool { spool, dir, loop in
            let good = try await store(spool, loop, ["Subject: good\r\n\r\nx\r\n"])
            var updated = try await store(spool, loop, ["Subject: updated\r\n\r\nx\r\n"])
            let damaged = try await store(spool, loop, ["Subject: damaged\r\n\r\nx\r\n"])
            let shortened = try await store(spool, loop, ["Subject: will be cut\r\n\r\nx\r\n"])
            let garbled = try await store(spool, loop, ["Subject: garbled\r\n\r\nx\r\n"])
            let cutOff = try await store(spool, loop, ["Subject: trailer cut off\r\n\r\nx\r\n"])
            updated.recipients[0].status = .deferred
            try spool.update(updated)
            // A byte of the committed envelope changed: the checksum catches it.
            var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/msg/" + damaged.id)))
            bytes[damaged.size + 3] ^= 0x20
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/msg/" + damaged.id))
            // An updated envelope whose message file is shorter than it says.
            var short = shortened
            short.recipients[0].status = .deferred
            try spool.update(short)
            try "cut".write(toFile: dir + "/msg/" + shortened.id, atomically: false, encoding: .utf8)
            try "nonsense".write(toFile: dir + "/env/" + garbled.id, atomically: false, encoding: .utf8)
            // A write that never got its trailer (never acknowledged): removed, not quarantined.
            let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/msg/" + cutOff.id))
            try whole.prefix(cutOff.size + 5).write(to: URL(fileURLWithPath: dir + "/msg/" + cutOff.id))
            try "half a message".write(toFile: dir + "/msg/INCOMPLETE", atomically: false, encoding: .utf8)
            try "env".write(toFile: dir + "/tmp/LEFTOVER", atomically: false, encoding: .utf8)
            try "orphan".write(toFile: dir + "/env/ORPHAN", atomically: false, encoding: .utf8)

            let recovered = try spool.recover()
            // In id order; which of the two has the lower id depends on the files made ahead.
            #expect(recovered.map(\.id) == [good.id, updated.id].sorted())
            #expect(recovered.first { $0.id == updated.id } == updated)
            #expect(!FileManager.default.fileExists(atPath: dir + "/msg/INCOMPLETE"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/msg/" + cutOff.id))
            #expect(!FileManager.default.fileExists(atPath: dir + "/tmp/LEFTOVER"))
            let quarantined = Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/quarantine"))
            #expect(
                quarantined == [
                    damaged.id + ".msg", shortened.id + ".env", shortened.id + ".msg", garbled.id + ".env", garbled.id + ".msg",
                    "ORPHAN.env",
                ])
        }
    }

    @Test func updateAndRemove() async throws {
        try await withSpool { spool, dir, loop in
            var e = try await store(spool, loop, ["x\r\n"])
            e.recipients[0].status = .deferred
            e.recipients[0].lastError = "disk full"
            try spool.update(e)
            let back = try spool.readEnvelope(e.id); #expect(back == e, "\(back.encoded()) vs \(e.encoded())")
            try spool.remove(e.id)
            #expect(try spool.recover().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/msg/" + e.id))
            // Recovery removed the empty files made ahead, and makes a new batch at once, so that
            // the first message after a start needs no file (nor folder sync) of its own.
            let deadline = ContinuousClock.now + .seconds(10)
            // Files appear in msg/ before the batch's folder sync; only then are they ready.
            while spool.dataFiles.ready == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let madeAhead = try FileManager.default.contentsOfDirectory(atPath: dir + "/msg")
            #expect(spool.dataFiles.ready == DataFilePool.batch)
            #expect(madeAhead.count == DataFilePool.batch)
            #expect(!madeAhead.contains(e.id))
            #expect(try spool.committed().isEmpty)
            let next = try await store(spool, loop, ["y\r\n"])
            #expect(madeAhead.contains(next.id), "the next message goes into a file made ahead")
        }
    }
}

extension SpoolTests {
    static func inode(_ path: String) -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value
    }

    @Test func removedMessageFilesAreReused() async throws {
        try await withSpool { spool, dir, loop in
            var first = Set<UInt64>()
            for i in 0..<100 {
                let e = try await store(spool, loop, ["Subject: \(i)\r\n\r\n", String(repeating: "long ", count: 200) + "\r\n"])
                first.insert(try #require(Self.inode(dir + "/msg/" + e.id)))
                try spool.remove(e.id)
                #expect(!FileManager.default.fileExists(atPath: dir + "/msg/" + e.id))
            }
            // The files wait under new names, still holding their old messages: not in the queue.
            #expect(try spool.committed().isEmpty)
            // Kept, not unlinked (so no later file can get one of their inodes by chance).
            let waiting = Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/msg").compactMap { Self.inode(dir + "/msg/" + $0) })
            #expect(first.isSubset(of: waiting))
            var second = Set<UInt64>()
            var stored: [(Envelope, String)] = []
            for i in 0..<200 {
                // Shorter than the old contents: the commit trims what it does not overwrite.
                let text = "Subject: again \(i)\r\n\r\nx\r\n"
                let e = try await store(spool, loop, [text])
                second.insert(try #require(Self.inode(dir + "/msg/" + e.id)))
                stored.append((e, text))
            }
            #expect(!first.isDisjoint(with: second), "files of removed messages are used again")
            for (e, text) in stored {
                #expect(try spool.readMessage(e, limit: .max) == Array(text.utf8))
                #expect(try spool.readEnvelope(e.id) == e)
            }
            #expect(try spool.committed().count == 200)
            #expect(try spool.recover().count == 200)
        }
    }

    @Test func largeMessageFilesAreRemovedNotReused() async throws {
        try await withSpool { spool, dir, loop in
            let chunk = String(repeating: "z", count: 1022) + "\r\n"
            let e = try await store(spool, loop, Array(repeating: chunk, count: 300))
            let inode = try #require(Self.inode(dir + "/msg/" + e.id))
            try spool.remove(e.id)
            // Reusing it would make a later small message's commit free 300 KiB first.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/msg").compactMap { Self.inode(dir + "/msg/" + $0) }
            #expect(!left.contains(inode))
        }
    }

    @Test func aRecycledFileACrashLeftUnemptiedIsRemovedAtRecovery() async throws {
        try await withSpool { spool, dir, loop in
            let delivered = try await store(spool, loop, ["Subject: delivered\r\n\r\nx\r\n"])
            let waiting = try await store(spool, loop, ["Subject: waiting\r\n\r\nx\r\n"])
            // The rename of the recycling reached the disk, the emptying did not.
            let newer = "FFFFFFFFFFFFF00000"
            #expect(newer.count == delivered.id.count)
            try FileManager.default.moveItem(atPath: dir + "/msg/" + delivered.id, toPath: dir + "/msg/" + newer)
            // A file whose envelope names a newer message than its name is not recycling: damage.
            let older = "0000000000000" + "00001"
            try FileManager.default.copyItem(atPath: dir + "/msg/" + waiting.id, toPath: dir + "/msg/" + older)
            #expect(try spool.recover().map(\.id) == [waiting.id])
            #expect(!FileManager.default.fileExists(atPath: dir + "/msg/" + newer))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/quarantine") == [older + ".msg"])
        }
    }
}

@Suite struct MaildirTests {
    @Test func deliversWithLFLineEndingsIntoNew() async throws {
        let root = try TestPaths.temporaryDirectory("maildir")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = root + "/source"
        let message = "Subject: hi\r\n\r\nline one\r\nline two\r\n" + String(repeating: "long\r\n", count: 30_000)
        try message.write(toFile: source, atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/mail", withIntermediateDirectories: true)
        let deliverer = try MaildirDeliverer(writer: MaildirWriter(root: root + "/mail", hostname: "mx.test"))
        defer { deliverer.stop() }
        let path = try await deliverer.deliver(
            .file(path: source, size: nil), jobs: [.init(prefix: "Return-Path: <a@b.example>\r\n", domain: "xyz.com", user: "carolyn")])[0].get()
        let expected = "Return-Path: <a@b.example>\n" + message.replacingOccurrences(of: "\r\n", with: "\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected)
        #expect(path.hasPrefix(root + "/mail/xyz.com/carolyn/new/"))
        let name = URL(fileURLWithPath: path).lastPathComponent
        #expect(name.contains(".mx.test,S=\(expected.utf8.count)"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/mail/xyz.com/carolyn/tmp").isEmpty)
        #expect(FileManager.default.fileExists(atPath: root + "/mail/xyz.com/carolyn/cur"))
        // A second delivery gets another name.
        let second = try await deliverer.deliver(.file(path: source, size: nil), jobs: [.init(prefix: "", domain: "xyz.com", user: "carolyn")])[0].get()
        #expect(second != path)
        // Only the first `messageSize` octets are delivered (the spool keeps the envelope after them).
        let head = try await deliverer.deliver(
            .file(path: source, size: 15), jobs: [.init(prefix: "", domain: "xyz.com", user: "carolyn")])[0].get()
        #expect(try String(contentsOfFile: head, encoding: .utf8) == "Subject: hi\n\n")
    }
}

@Suite struct MaildirDelivererTests {
    @Test func concurrentDeliveriesShareBatchesAndAllArriveWhole() async throws {
        let root = try TestPaths.temporaryDirectory("maildir-batch")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = root + "/source"
        try "Subject: batch\r\n\r\nbody\r\n".write(toFile: source, atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/mail", withIntermediateDirectories: true)
        let deliverer = try MaildirDeliverer(writer: MaildirWriter(root: root + "/mail", hostname: "mx.test"))
        let results = await withTaskGroup(of: [Result<String, any Error>].self) { group in
            for n in 0..<50 {
                group.addTask {
                    await deliverer.deliver(
                        .file(path: source, size: nil),
                        jobs: [.init(prefix: "Return-Path: <\(n)@b.example>\r\n", domain: "xyz.com", user: n % 2 == 0 ? "carolyn" : "bob")])
                }
            }
            var all: [Result<String, any Error>] = []
            for await r in group { all += r }
            return all
        }
        #expect(results.count == 50)
        let paths = results.compactMap { try? $0.get() }
        #expect(paths.count == 50)
        #expect(Set(paths).count == 50)
        for path in paths {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasSuffix("Subject: batch\n\nbody\n") && text.hasPrefix("Return-Path: <"), "\(text)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/mail/xyz.com/carolyn/new").count == 25)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/mail/xyz.com/carolyn/tmp").isEmpty)
        // A missing message fails its jobs, not the batch.
        let missing = await deliverer.deliver(.file(path: root + "/nothing", size: nil), jobs: [.init(prefix: "", domain: "xyz.com", user: "bob")])
        #expect(throws: StorageError.self) { try missing[0].get() }
        deliverer.stop()
        let refused = await deliverer.deliver(.file(path: source, size: nil), jobs: [.init(prefix: "", domain: "xyz.com", user: "bob")])
        #expect(throws: StorageError.self) { try refused[0].get() }
    }

    @Test func aDeliveryIsReportedOnlyOnceItsFolderIsSyncedAndStopSyncsIt() async throws {
        let root = try TestPaths.temporaryDirectory("maildir-linger")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/mail", withIntermediateDirectories: true)
        // A linger longer than the test: the folder's sync, and so the report, waits for `stop`.
        let deliverer = try MaildirDeliverer(writer: MaildirWriter(root: root + "/mail", hostname: "mx.test"), linger: .seconds(600))
        let reported = NIOLockedValueBox<[Result<String, any Error>]?>(nil)
        deliverer.submit(.memory([ByteBuffer(string: "Subject: s\r\n\r\nb\r\n")]), jobs: [.init(prefix: "", domain: "xyz.com", user: "carolyn")]) {
            results in reported.withLockedValue { $0 = results }
        }
        let new = root + "/mail/xyz.com/carolyn/new"
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? FileManager.default.contentsOfDirectory(atPath: new).count) != 1, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        // The file is whole in new/ (its contents were synced first), its name not yet durable.
        let names = try FileManager.default.contentsOfDirectory(atPath: new)
        #expect(names.count == 1)
        #expect(try String(contentsOfFile: new + "/" + names[0], encoding: .utf8) == "Subject: s\n\nb\n")
        try await Task.sleep(for: .milliseconds(50))
        #expect(reported.withLockedValue { $0 } == nil)
        deliverer.stop()
        let results = try #require(reported.withLockedValue { $0 })
        #expect(try results[0].get() == new + "/" + names[0])
    }

    @Test func messageInMemoryIsWrittenOnceAndLinkedIntoEveryMailbox() async throws {
        let root = try TestPaths.temporaryDirectory("maildir-links")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/mail", withIntermediateDirectories: true)
        // Where the first mailbox's domain folder should be there is a file: that mailbox fails,
        // and must not hold up the others.
        try "not a folder".write(toFile: root + "/mail/broken.test", atomically: false, encoding: .utf8)
        let deliverer = try MaildirDeliverer(writer: MaildirWriter(root: root + "/mail", hostname: "mx.test"))
        defer { deliverer.stop() }
        let parts = ["Subject: several\r\n", "\r\nline\r", "\none\r\n"].map { ByteBuffer(string: $0) }
        let prefix = "Return-Path: <a@b.example>\r\n"
        let users = ["bob", "carolyn", "dave"]
        let results = await deliverer.deliver(
            .memory(parts),
            jobs: [.init(prefix: prefix, domain: "broken.test", user: "x")] + users.map { .init(prefix: prefix, domain: "xyz.com", user: $0) })
        #expect(throws: StorageError.self) { try results[0].get() }
        let paths = try results.dropFirst().map { try $0.get() }
        var inodes = Set<UInt64>()
        for (user, path) in zip(users, paths) {
            #expect(path.hasPrefix(root + "/mail/xyz.com/\(user)/new/"))
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "Return-Path: <a@b.example>\nSubject: several\n\nline\none\n")
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            inodes.insert((attributes[.systemFileNumber] as! NSNumber).uint64Value)
            #expect((attributes[.referenceCount] as! NSNumber).intValue == 3)
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/mail/xyz.com/\(user)/tmp").isEmpty)
        }
        #expect(inodes.count == 1, "one file, linked into three mailboxes")
    }

    @Test func filesystemSyncIsSharedAndReturns() async throws {
        let root = try TestPaths.temporaryDirectory("fs-sync")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sync = try FilesystemSync(path: root)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try? sync.sync() } }
        }
        try sync.sync()
        #expect(throws: StorageError.self) { try FilesystemSync(path: root + "/absent") }
    }
}
