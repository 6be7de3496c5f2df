#if canImport(Glibc)
import Glibc
#endif
import MailCore
import NIOCore
import NIOPosix

/// Streams one message into the spool. Used on one event loop. A message of up to
/// `inMemoryLimit` octets stays in memory until the commit, which writes it whole on the commit
/// thread (no trip to the thread pool per chunk, and the Maildir delivery can use the octets
/// without reading the file back). A larger one streams to its file as it arrives: the writes run
/// in order on the spool's thread pool, batched while one is under way, so a large message never
/// sits whole in memory. `outstandingBytes` lets the connection stop reading while the disk
/// catches up.
///
/// Sendable only so that future callbacks may hold it: every method must be called on its event
/// loop (they check), and the callbacks run there too.
public final class SpoolWriter: @unchecked Sendable {
    private let spool: Spool
    private let eventLoop: EventLoop
    /// File id and descriptor, set by the first write (on the thread pool).
    private let file = FileBox()
    /// Writes to the file, in order, one batch at a time on the thread pool.
    private var writes = BatchGate<ByteBuffer>()
    /// The message so far, while it is small enough to keep in memory.
    private var held: [ByteBuffer] = []
    /// The message outgrew `inMemoryLimit` and streams to its file.
    private var streaming = false
    private var failure: Error?
    private var finished = false
    private var drainWaiters: [EventLoopPromise<Void>] = []

    /// Messages up to this size are written whole at the commit.
    public static let inMemoryLimit = 128 * 1024

    /// Octets handed to `write` and not yet written (held in memory below `inMemoryLimit` does not
    /// count: it is bounded, and nothing would wake a reader paused for it).
    public private(set) var outstandingBytes = 0
    /// Octets handed to `write` in all.
    public private(set) var size = 0
    /// Called on the event loop whenever a write finishes.
    public var onProgress: ((SpoolWriter) -> Void)?
    /// Asked once, when the message outgrows memory and starts streaming to its file: how many
    /// octets to leave free at the start of the file for a prefix given at `commit` (a DKIM
    /// signature, whose length is known before its value). 0: none.
    public var roomForPrefix: (() -> Int)?
    /// The room left at the start of the file.
    public private(set) var reservedPrefix = 0

    final class FileBox: @unchecked Sendable {
        var id: String?
        var fd: Int32 = -1
        /// The file was made ahead and its name synced: the commit need not sync `msg/`.
        var nameIsDurable = false
        /// Octets in the file before this message (a recycled file): the commit trims what the
        /// message does not overwrite.
        var existingLength = 0
    }

    /// The message's queue id, known from the start so that it can go into our `Received:` field.
    public let queueID: String

    init(spool: Spool, eventLoop: EventLoop, queueID: String) {
        self.spool = spool
        self.eventLoop = eventLoop
        self.queueID = queueID
    }

    /// Writes into a file made ahead (`DataFilePool`).
    init(spool: Spool, eventLoop: EventLoop, file: DataFilePool.File) {
        self.spool = spool
        self.eventLoop = eventLoop
        self.queueID = file.id
        self.file.id = file.id
        self.file.fd = file.fd
        self.file.nameIsDurable = true
        self.file.existingLength = file.length
    }

    public func write(_ buffer: ByteBuffer) {
        eventLoop.preconditionInEventLoop()
        guard !finished, buffer.readableBytes > 0 else { return }
        size += buffer.readableBytes
        if !streaming {
            if size <= Self.inMemoryLimit {
                held.append(buffer)
                return
            }
            streaming = true
            reservedPrefix = max(0, roomForPrefix?() ?? 0)
            var earlier = held
            if reservedPrefix > 0 {
                // Spaces for now: `commit` writes the prefix over them before the file is synced.
                earlier.insert(ByteBuffer(repeating: UInt8(ascii: " "), count: reservedPrefix), at: 0)
                size += reservedPrefix
            }
            outstandingBytes = earlier.reduce(0) { $0 + $1.readableBytes }
            held = []
            if writes.add(contentsOf: earlier), let batch = writes.take() { startWriting(batch) }
        }
        outstandingBytes += buffer.readableBytes
        if writes.add(buffer), let batch = writes.take() { startWriting(batch) }
    }

    private func startWriting(_ batch: [ByteBuffer]) {
        let bytes = batch.reduce(0) { $0 + $1.readableBytes }
        let spool = self.spool
        let file = self.file
        let failed = failure != nil
        let id = queueID
        spool.threadPool.runIfActive(eventLoop: eventLoop) {
            guard !failed else { return }
            if file.id == nil {
                file.fd = try spool.layout.createDataFile(id)
                file.id = id
            }
            let path = spool.layout.dataPath(file.id!)
            for buffer in batch { try POSIXFile.writeAll(file.fd, buffer, path: path) }
        }.whenComplete { result in
            self.outstandingBytes -= bytes
            if case .failure(let error) = result, self.failure == nil { self.failure = error }
            self.onProgress?(self)
            if let next = self.writes.take() {
                self.startWriting(next)
            } else {
                let waiters = self.drainWaiters
                self.drainWaiters = []
                for w in waiters { w.succeed() }
            }
        }
    }

    private func drained() -> EventLoopFuture<Void> {
        if writes.isIdle { return eventLoop.makeSucceededFuture(()) }
        let promise = eventLoop.makePromise(of: Void.self)
        drainWaiters.append(promise)
        return promise.futureResult
    }

    /// A committed message: its envelope and, when it was small enough to stay in memory, its
    /// octets (as in the file, CRLF, without the envelope), so that delivery need not read them.
    public struct Committed: Sendable {
        public var envelope: Envelope
        public var message: [ByteBuffer]?
    }

    /// Makes the message durable with this envelope (whose id and size are filled in here), with
    /// `prefix` before the message's first octet (for a streamed message it must fill the room
    /// `roomForPrefix` asked for exactly). Succeeds once message and envelope are on stable storage.
    public func commit(
        prefix: [UInt8] = [], _ makeEnvelope: @escaping @Sendable (_ id: String, _ size: Int) -> Envelope
    ) -> EventLoopFuture<Committed> {
        eventLoop.preconditionInEventLoop()
        guard !streaming || prefix.count == reservedPrefix else {
            // A prefix that does not fit its room would leave spaces or overwrite the message.
            abort()
            return eventLoop.makeFailedFuture(StorageError("commit", spool.layout.dataPath(queueID), errno: EINVAL))
        }
        finished = true
        let spool = self.spool
        let file = self.file
        let eventLoop = self.eventLoop
        let id = queueID
        if !streaming && !prefix.isEmpty {
            held.insert(ByteBuffer(bytes: prefix), at: 0)
            size += prefix.count
        }
        let size = self.size
        let patch = streaming && !prefix.isEmpty ? prefix : []
        let held = streaming ? nil : self.held
        self.held = []
        let promise = eventLoop.makePromise(of: Committed.self)
        // The commit thread creates the file when none was made ahead (a message held in memory,
        // an empty one). On failure it has closed and removed the file itself.
        @Sendable func submit() {
            let envelope = makeEnvelope(file.id ?? id, size)
            spool.committer.submit(
                .init(
                    id: file.id ?? id, dataFD: file.fd, data: held ?? [], size: size, envelopeText: envelope.encoded(),
                    nameIsDurable: file.nameIsDurable, existingLength: file.existingLength, prefix: patch
                ) { result in
                    promise.completeWith(result.map { Committed(envelope: envelope, message: held) })
                })
            file.fd = -1
            file.id = file.id ?? id
        }
        @Sendable func finish() {
            if let failure {
                discardFile()
                promise.fail(failure)
            } else {
                submit()
            }
        }
        // Usually nothing is in flight: a small message was held in memory.
        if writes.isIdle {
            finish()
        } else {
            drained().whenComplete { _ in finish() }
        }
        return promise.futureResult
    }

    /// Throws the message away.
    public func abort() {
        eventLoop.preconditionInEventLoop()
        guard !finished else { return }
        finished = true
        writes.dropWaiting()
        held = []
        drained().whenComplete { _ in self.discardFile() }
    }

    private func discardFile() {
        let file = self.file
        let spool = self.spool
        spool.threadPool.submit { _ in
            if file.fd >= 0 {
                Glibc.close(file.fd)
                file.fd = -1
            }
            if let id = file.id, !POSIXFile.exists(spool.layout.envelopePath(id)) {
                POSIXFile.unlink(spool.layout.dataPath(id))
            }
        }
    }
}
