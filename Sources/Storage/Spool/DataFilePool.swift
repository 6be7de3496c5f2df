#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// Message files made ahead of need: a batch at a time, with one sync of the folder for the
/// batch, so that a message written into one needs only its own `fdatasync` before the `250` (its
/// name is already durable). An unused one is an empty file without a trailer, or a recycled file
/// ending with an older message's envelope; recovery removes both.
///
/// Files of delivered messages come back here (`recycle`), renamed, and are used
/// before new ones are made: on ext4 without a journal, every inode freed is skipped by the
/// inode allocator for half a minute (`recently_deleted`), so a busy spool that removes and
/// creates a file per message makes every creation scan past thousands of them. Reusing the
/// files frees no inodes at all.
final class DataFilePool: Sendable {
    struct File: Sendable {
        var id: String
        var fd: Int32
        /// Octets already in the file (a recycled file's old contents), which a commit into it
        /// must overwrite or trim.
        var length = 0
    }

    private struct State {
        var files: [File] = []
        /// Files of delivered messages, under new names not yet synced, with their lengths.
        var recycled: [(id: String, length: Int)] = []
        var refilling = false
        var closed = false
    }

    private let layout: SpoolLayout
    private let ids: QueueIDGenerator
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    /// Refill when fewer than this are left; make this many at a time.
    static let lowWater = 16
    static let batch = 64
    /// Recycled files kept at most; more are removed.
    static let maxRecycled = 1024

    init(layout: SpoolLayout, ids: QueueIDGenerator, threadPool: NIOThreadPool, logger: Logger) {
        self.layout = layout
        self.ids = ids
        self.threadPool = threadPool
        self.logger = logger
    }

    /// Files ready to be taken (their names durable).
    var ready: Int { state.withLockedValue { $0.files.count } }

    /// A ready file, or nil when none is (the caller then creates its own). Never blocks.
    func take() -> File? {
        let (file, refill) = state.withLockedValue { s -> (File?, Bool) in
            guard !s.closed else { return (nil, false) }
            // Oldest first: ids sort by time, and the queue lists messages in id order.
            let file = s.files.isEmpty ? nil : s.files.removeFirst()
            return (file, Self.claimRefill(&s))
        }
        if refill { startRefill() }
        return file
    }

    /// Makes the first batch ahead, so that the first message needs no file of its own (which
    /// costs its commit a sync of the folder as well).
    func fill() {
        if state.withLockedValue({ !$0.closed && Self.claimRefill(&$0) }) { startRefill() }
    }

    /// Whether a refill is due (few files left, none under way); if so it is now under way.
    private static func claimRefill(_ s: inout State) -> Bool {
        guard s.files.count < lowWater, !s.refilling else { return false }
        s.refilling = true
        return true
    }

    private func startRefill() {
        threadPool.submit { [self] work in
            guard case .active = work else {
                // Shutting down: make no more (and never on the caller's thread).
                state.withLockedValue { $0.refilling = false }
                return
            }
            self.refill()
        }
    }

    /// Takes back the file of a delivered message, already renamed to `id`, `length` octets long;
    /// false when the pool has enough (the caller removes it).
    func recycle(_ id: String, length: Int) -> Bool {
        state.withLockedValue { s in
            guard !s.closed, s.recycled.count < Self.maxRecycled else { return false }
            s.recycled.append((id, length))
            return true
        }
    }

    private func refill() {
        var made: [File] = []
        let reused = state.withLockedValue { s -> [(id: String, length: Int)] in
            let n = min(Self.batch, s.recycled.count)
            defer { s.recycled.removeFirst(n) }
            return Array(s.recycled.prefix(n))
        }
        for (id, length) in reused {
            guard let fd = try? POSIXFile.open(layout.dataPath(id), O_WRONLY) else { continue }
            made.append(File(id: id, fd: fd, length: length))
        }
        while made.count < Self.batch {
            let id = ids.next()
            guard let fd = try? layout.createDataFile(id) else { break }
            made.append(File(id: id, fd: fd))
        }
        do {
            try POSIXFile.syncDirectory(layout.dataDirectory)
        } catch {
            logger.warning("cannot sync the spool folder", metadata: ["error": .string("\(error)")])
            discard(made)
            made = []
        }
        let leftover = state.withLockedValue { s -> [File] in
            s.refilling = false
            if s.closed { return made }
            s.files += made
            return []
        }
        discard(leftover)
    }

    /// Closes and removes every file not handed out, and makes no more until `reopen`.
    func close() {
        let (files, recycled) = state.withLockedValue { s -> ([File], [(id: String, length: Int)]) in
            s.closed = true
            defer {
                s.files = []
                s.recycled = []
            }
            return (s.files, s.recycled)
        }
        discard(files)
        for file in recycled { POSIXFile.unlink(layout.dataPath(file.id)) }
    }

    /// Takes files again, and makes the first batch ahead.
    func reopen() {
        state.withLockedValue { $0.closed = false }
        fill()
    }

    private func discard(_ files: [File]) {
        for file in files {
            Glibc.close(file.fd)
            POSIXFile.unlink(layout.dataPath(file.id))
        }
    }
}
