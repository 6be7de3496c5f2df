#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The durable queue of received messages (see `SpoolLayout`). Messages stream in through a
/// `SpoolWriter`; `commit` returns once message and envelope are on stable storage.
public final class Spool: Sendable {
    public let layout: SpoolLayout
    let threadPool: NIOThreadPool
    let committer: GroupCommitter
    /// Syncs the spool's file system, shared by the commit thread and envelope updates.
    let fileSystem: FilesystemSync
    /// Message files made ahead, whose names are already durable.
    let dataFiles: DataFilePool
    let ids = QueueIDGenerator()
    let logger: Logger
    /// Removes delivered messages in batches; the sync of the spool's folders is shared by the
    /// removals of up to `removalLinger`.
    private let remover: BatchThread<Removal>

    struct Removal {
        var id: String
        var updated: Bool
        var completion: @Sendable ((any Error)?) -> Void
    }

    /// Removals done and waiting for the sync of the spool's folders; touched on the removal
    /// thread only.
    private final class PendingRemovals: @unchecked Sendable {
        var waiting: [(Removal, (any Error)?)] = []
        var envelopes = false
    }

    /// How long a removal's folder sync may wait to be shared with later removals: a message
    /// delivered one at a time (a client sending message after message) then costs no sync of
    /// its own on the device the next message's commit waits on. A crash within it may deliver
    /// that message again.
    public static let removalLinger = Duration.milliseconds(4)

    /// Opens (creating if needed) the spool at `root`. The thread pool runs the file writes.
    /// `observeCommit` hears of each group commit: the messages it made durable and its seconds.
    public init(
        root: String, threadPool: NIOThreadPool, logger: Logger,
        observeCommit: (@Sendable (_ messages: Int, _ seconds: Double) -> Void)? = nil
    ) throws {
        self.layout = SpoolLayout(root: root)
        self.threadPool = threadPool
        self.logger = logger
        for dir in [layout.dataDirectory, layout.envelopeDirectory, layout.tmpDirectory, layout.quarantineDirectory, layout.traceDirectory] {
            let created = try POSIXFile.makeDirectories(dir)
            for d in created { try POSIXFile.syncDirectory(POSIXFile.parent(d)) }
        }
        self.fileSystem = try FilesystemSync(path: root)
        self.dataFiles = DataFilePool(layout: layout, ids: ids, threadPool: threadPool, logger: logger)
        self.committer = GroupCommitter(layout: layout, fileSystem: fileSystem, observe: observeCommit)
        committer.start()
        let (layout, fileSystem, ids, dataFiles) = (self.layout, self.fileSystem, self.ids, self.dataFiles)
        let pending = PendingRemovals()
        remover = BatchThread(
            name: "postie-remove", linger: Self.removalLinger,
            process: { batch in
                for r in batch {
                    var failure: (any Error)?
                    do { try Self.remove(r.id, updated: r.updated, layout: layout, ids: ids, dataFiles: dataFiles) } catch { failure = error }
                    pending.waiting.append((r, failure))
                    if r.updated { pending.envelopes = true }
                }
                return true  // the folders' sync waits, to be shared with the next removals
            },
            settle: {
                guard !pending.waiting.isEmpty else { return }
                let directories = [layout.dataDirectory] + (pending.envelopes ? [layout.envelopeDirectory] : [])
                var syncFailure: (any Error)?
                do { try fileSystem.sync(directories: directories) } catch { syncFailure = error }
                let done = pending.waiting
                pending.waiting = []
                pending.envelopes = false
                for (r, failure) in done { r.completion(failure ?? syncFailure) }
            },
            refuse: { $0.completion(StorageError("remove", layout.root, errno: ESHUTDOWN)) })
        remover.start()
    }

    /// Stops the commit thread after it has finished what it was given.
    public func close() {
        committer.stop()
        remover.stop()
        dataFiles.close()
    }

    /// A writer for a new message, bound to the caller's event loop.
    public func makeWriter(eventLoop: EventLoop) -> SpoolWriter {
        if let file = dataFiles.take() { return SpoolWriter(spool: self, eventLoop: eventLoop, file: file) }
        return SpoolWriter(spool: self, eventLoop: eventLoop, queueID: ids.next())
    }

    // MARK: Reading and changing committed messages (blocking; call from a thread pool)

    /// Stores and commits a message Postie made itself (a bounce, a message from `sendmail`).
    /// Returns once it is durable.
    public func store(_ message: [UInt8], makeEnvelope: (_ id: String, _ size: Int) -> Envelope) throws -> Envelope {
        let id = ids.next()
        let envelope = makeEnvelope(id, message.count)
        let outcome = NIOLockedValueBox<Result<Void, Error>?>(nil)
        committer.commit([
            .init(
                id: id, dataFD: -1, data: [ByteBuffer(bytes: message)], size: message.count, envelopeText: envelope.encoded(),
                nameIsDurable: false
            ) { result in
                outcome.withLockedValue { $0 = result }
            }
        ])
        try outcome.withLockedValue { $0 }!.get()
        return envelope
    }

    /// Reads up to `limit` octets of a stored message, never past its end (blocking).
    public func readMessage(_ envelope: Envelope, limit: Int) throws -> [UInt8] {
        try POSIXFile.readAll(layout.dataPath(envelope.id), limit: min(limit, envelope.size))
    }

    /// Every committed message's envelope, in queue id order: about the order of arrival (an id
    /// is the time its file was made, and files are made a batch ahead). Messages
    /// still being written are not listed.
    public func committed() throws -> [Envelope] {
        try POSIXFile.listDirectory(layout.dataDirectory).sorted().compactMap { try? readEnvelope($0) }
    }

    /// The files in `msg/` that hold message data of the queue: committed messages, and writes
    /// under way or cut short; not the empty files made ahead, nor recycled files still holding a
    /// delivered message. Sorted. For inspection and tests (blocking).
    public static func messageFiles(root: String) -> [String] {
        let layout = SpoolLayout(root: root)
        let names = (try? POSIXFile.listDirectory(layout.dataDirectory)) ?? []
        return names.filter { name in
            guard (POSIXFile.size(layout.dataPath(name)) ?? 0) > 0 else { return false }
            if case .recycled? = try? contents(of: name, layout: layout) { return false }
            return true
        }.sorted()
    }

    /// Whether a message is committed and readable.
    public func contains(_ id: String) -> Bool {
        (try? readEnvelope(id)) != nil
    }

    /// Everything committed, in queue id order. Message files without an envelope are incomplete
    /// writes and are removed; records that cannot be read are moved to `quarantine/`.
    public func recover() throws -> [Envelope] {
        // The files made ahead look uncommitted (they are): let them go, and make new ones after.
        dataFiles.close()
        defer { dataFiles.reopen() }
        for name in try POSIXFile.listDirectory(layout.tmpDirectory) {
            POSIXFile.unlink(layout.tmpDirectory + "/" + name)
        }
        var envelopes: [Envelope] = []
        let updated = Set(try POSIXFile.listDirectory(layout.envelopeDirectory))
        let messages = try POSIXFile.listDirectory(layout.dataDirectory).sorted()
        for name in messages {
            do {
                guard let envelope = try recoveredEnvelope(name, updated: updated.contains(name)) else {
                    // Files made ahead (empty) and recycled ones are the spool's own stock, not
                    // mail: only a write that was cut short is worth a line in the log.
                    if (POSIXFile.size(layout.dataPath(name)) ?? 0) > 0,
                        case .uncommitted? = try? Self.contents(of: name, layout: layout)
                    {
                        logger.info("removing a message that was never acknowledged", metadata: ["queue_id": .string(name)])
                    }
                    POSIXFile.unlink(layout.dataPath(name))
                    continue
                }
                envelopes.append(envelope)
            } catch {
                quarantine(name, reason: "\(error)")
            }
        }
        for name in updated.subtracting(messages) {
            quarantine(name, reason: "message file missing")
        }
        return envelopes
    }

    /// The envelope of a message file found at start, nil when it was never committed.
    private func recoveredEnvelope(_ id: String, updated: Bool) throws -> Envelope? {
        let envelope: Envelope
        if updated {
            envelope = try readEnvelope(id)
        } else {
            guard let trailing = try trailerEnvelope(id) else { return nil }
            envelope = trailing
        }
        guard envelope.id == id else { throw Envelope.DecodingError(line: 2, reason: "id does not match file name") }
        guard (POSIXFile.size(layout.dataPath(id)) ?? 0) >= envelope.size else {
            throw Envelope.DecodingError(line: 0, reason: "message file shorter than the envelope says")
        }
        return envelope
    }

    /// The envelope as last written: `env/<id>` after an update, else the message file's trailer.
    public func readEnvelope(_ id: String) throws -> Envelope {
        let bytes: [UInt8]
        do {
            bytes = try POSIXFile.readAll(layout.envelopePath(id))
        } catch let error as StorageError where error.errno == ENOENT {
            guard let envelope = try trailerEnvelope(id) else { throw StorageError("read envelope", layout.dataPath(id), errno: ENOENT) }
            return envelope
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Envelope.DecodingError(line: 0, reason: "not UTF-8")
        }
        return try Envelope(decoding: text)
    }

    /// The envelope committed with the message; nil when the file has none (never committed), or
    /// when it is a recycled file (see `remove`) still holding an older message's envelope.
    private func trailerEnvelope(_ id: String) throws -> Envelope? {
        if case .committed(let envelope) = try Self.contents(of: id, layout: layout) { return envelope }
        return nil
    }

    /// What a file in `msg/` holds, going by its trailer.
    enum FileContents {
        /// No trailer: a write under way or cut short, or a file made ahead.
        case uncommitted
        /// A recycled file still ending with a delivered message's envelope.
        case recycled
        case committed(Envelope)
    }

    /// Reads the trailer of `msg/<id>` (blocking); throws when it is damaged.
    static func contents(of id: String, layout: SpoolLayout) throws -> FileContents {
        let path = layout.dataPath(id)
        let fd = try POSIXFile.open(path, O_RDONLY)
        defer { Glibc.close(fd) }
        switch try EnvelopeTrailer.decode(fd: fd, path: path) {
        case .absent:
            return .uncommitted
        case .damaged(let why):
            throw Envelope.DecodingError(line: 0, reason: why)
        case .envelope(let text, let messageSize):
            let envelope = try Envelope(decoding: text)
            if isRecycled(name: id, envelopeID: envelope.id) { return .recycled }
            guard envelope.size == messageSize else {
                throw Envelope.DecodingError(line: 0, reason: "envelope size \(envelope.size) but \(messageSize) octets of message")
            }
            return .committed(envelope)
        }
    }

    /// A file named with a newer id than the envelope it ends with was recycled after that
    /// message left the queue (Postie never commits a message into a file of another name).
    static func isRecycled(name: String, envelopeID: String) -> Bool {
        envelopeID.count == name.count && envelopeID < name
    }

    /// Sets a record aside where a person can look at it, and logs why.
    public func quarantine(_ id: String, reason: String) {
        logger.error("unreadable spool record moved to quarantine", metadata: ["queue_id": .string(id), "reason": .string(reason)])
        _ = Glibc.rename(layout.envelopePath(id), layout.quarantineDirectory + "/" + id + ".env")
        _ = Glibc.rename(layout.dataPath(id), layout.quarantineDirectory + "/" + id + ".msg")
        try? POSIXFile.syncDirectory(layout.quarantineDirectory)
    }

    /// Replaces a committed envelope atomically (recipient states after a delivery attempt): it
    /// goes to `env/<id>`, which wins over the one in the message file.
    public func update(_ envelope: Envelope) throws {
        let tmp = layout.tmpPath(envelope.id)
        let fd = try POSIXFile.open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            defer { Glibc.close(fd) }
            try POSIXFile.writeAll(fd, envelope.encoded(), path: tmp)
            try fileSystem.sync(files: [fd])
        }
        try POSIXFile.rename(tmp, layout.envelopePath(envelope.id))
        try fileSystem.sync(directories: [layout.envelopeDirectory])
    }

    /// Files up to this size are reused; larger ones (rare) are removed.
    static let largestRecycled = 256 * 1024

    /// Removes a message whose every recipient is done. The envelope goes first: a crash between
    /// the two leaves the message file, and the message is delivered again. Not synced on its own:
    /// the next commit's sync makes the removal durable. A crash before that brings the message
    /// back and it is delivered again (at least once, never lost), as with Postfix.
    /// `updated`: whether the envelope may have been updated (`env/<id>`); false spares a call.
    ///
    /// The message file (up to `largestRecycled`) is not unlinked but renamed to a new id for
    /// `DataFilePool` to reuse, its contents left as they are (the next commit into it
    /// overwrites them and trims the rest).
    /// Such a file still ends with the old envelope, whose id is older than the file's name: it
    /// is not a message (`readEnvelope` and recovery pass it over; recovery removes it).
    public func remove(_ id: String, updated: Bool = true) throws {
        try Self.remove(id, updated: updated, layout: layout, ids: ids, dataFiles: dataFiles)
    }

    private static func remove(_ id: String, updated: Bool, layout: SpoolLayout, ids: QueueIDGenerator, dataFiles: DataFilePool) throws {
        if updated, Glibc.unlink(layout.envelopePath(id)) != 0 && errno != ENOENT {
            throw StorageError("unlink", layout.envelopePath(id))
        }
        let path = layout.dataPath(id)
        // A large file would cost the commit that reuses it the freeing of all it holds.
        guard let size = POSIXFile.size(path), size <= Self.largestRecycled else {
            POSIXFile.unlink(path)
            return
        }
        let fresh = ids.next()
        guard Glibc.rename(path, layout.dataPath(fresh)) == 0 else {
            POSIXFile.unlink(path)
            return
        }
        if !dataFiles.recycle(fresh, length: size) { POSIXFile.unlink(layout.dataPath(fresh)) }
    }

    /// Removes a message whose every recipient is done, durably: `completion` is called once the
    /// removal is on stable storage, so that a crash after it never delivers the message again.
    /// Removals within `removalLinger` of each other share the sync of the spool's folders.
    public func removeDurably(_ id: String, updated: Bool = true, completion: @escaping @Sendable ((any Error)?) -> Void) {
        remover.submit(Removal(id: id, updated: updated, completion: completion))
    }

    /// Opens the stored message for reading.
    public func openMessage(_ id: String) throws -> Int32 {
        try POSIXFile.open(layout.dataPath(id), O_RDONLY)
    }
}

// MARK: Delivery transcripts

extension Spool {
    /// Attempts kept per message: the newest.
    public static let tracedAttempts = 10

    /// Adds an attempt's transcript to the message's trace (blocking), keeping the newest
    /// `tracedAttempts`. Not synced: a trace is for reading, and a crash costing its last lines
    /// loses no mail.
    public func appendTrace(_ id: String, attempt: String) throws {
        let path = layout.tracePath(id)
        var attempts = Self.traceAttempts(in: (try? POSIXFile.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? "")
        attempts.append(attempt)
        let kept = attempts.suffix(Self.tracedAttempts)
        let text = kept.map { Self.attemptMarker + $0 + "\n" }.joined()
        let temporary = layout.tmpDirectory + "/trace-" + id
        let fd = try POSIXFile.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        defer { Glibc.close(fd) }
        try POSIXFile.writeAll(fd, Array(text.utf8), at: 0, path: temporary)
        try POSIXFile.rename(temporary, path)
    }

    /// The message's attempts, oldest first (blocking); empty when it has none.
    public func trace(_ id: String) -> [String] {
        Self.traceAttempts(in: (try? POSIXFile.readAll(layout.tracePath(id))).map { String(decoding: $0, as: UTF8.self) } ?? "")
    }

    static let attemptMarker = "=== "

    static func traceAttempts(in text: String) -> [String] {
        text.components(separatedBy: "\n" + attemptMarker).map { part in
            var p = part
            if p.hasPrefix(attemptMarker) { p.removeFirst(attemptMarker.count) }
            if p.hasSuffix("\n") { p.removeLast() }
            return p
        }.filter { !$0.isEmpty }
    }

    /// Removes the traces of messages no longer in the spool whose last attempt is older than
    /// `retention` seconds at `now` (blocking); returns how many went.
    @discardableResult
    public func removeTraces(olderThan retention: Int64, now: Int64) -> Int {
        let names = (try? POSIXFile.listDirectory(layout.traceDirectory)) ?? []
        var removed = 0
        for name in names where !contains(name) {
            var info = stat()
            guard stat(layout.tracePath(name), &info) == 0, Self.traceExpired(modified: Int64(info.st_mtim.tv_sec), now: now, retention: retention)
            else { continue }
            POSIXFile.unlink(layout.tracePath(name))
            removed += 1
        }
        return removed
    }

    /// Whether a trace last written at `modified` has outlived `retention` at `now`.
    public static func traceExpired(modified: Int64, now: Int64, retention: Int64) -> Bool {
        now - modified >= retention
    }
}
