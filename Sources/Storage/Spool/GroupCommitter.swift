#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Makes spooled messages durable in batches, on a thread of its own so that no event loop ever
/// waits for the disk. Every message that finished arriving while the previous batch was being
/// synced joins the next batch; a batch costs one sync however many messages it holds (a small
/// batch syncs its few files and `msg/` one by one, which is cheaper; a larger one shares a
/// `syncfs`): concurrent sessions share it (group commit).
///
/// A message is committed when its file in `msg/` ends with its envelope (`EnvelopeTrailer`):
/// the batch writes each small message whole (the writer held it in memory) or appends the
/// envelope to a message already streamed to its file, then syncs the files and `msg/`. Only
/// then are the waiting sessions told (and send their `250`). A crash before the sync leaves at
/// most message files without a whole trailer, which recovery removes: never acknowledged.
final class GroupCommitter: @unchecked Sendable {
    struct Request {
        var id: String
        /// The message file, or -1 when there is none yet (the commit creates it).
        var dataFD: Int32
        /// The message's octets still to write at the start of the file (a message held in
        /// memory); empty when they are in the file already.
        var data: [ByteBuffer] = []
        /// Octets of message in the file; the envelope goes after them.
        var size: Int
        var envelopeText: String
        /// The file's name in `msg/` is already durable (made ahead), so `msg/` need not be synced.
        var nameIsDurable: Bool
        /// Octets the file held before (a recycled file): what is past the envelope is cut off.
        var existingLength = 0
        /// Octets to write at the start of a streamed message's file, over the room it left.
        var prefix: [UInt8] = []
        /// Called once, on the commit thread (or the caller's, for `commit(_:)`).
        var completion: @Sendable (Result<Void, Error>) -> Void
    }

    private let layout: SpoolLayout
    private let fileSystem: FilesystemSync
    private var thread: BatchThread<Request>!
    /// Told of each batch made durable: its messages and seconds (for metrics).
    private let observe: (@Sendable (Int, Double) -> Void)?

    init(layout: SpoolLayout, fileSystem: FilesystemSync, observe: (@Sendable (Int, Double) -> Void)? = nil) {
        self.layout = layout
        self.fileSystem = fileSystem
        self.observe = observe
        let root = layout.root
        thread = BatchThread(
            name: "postie-commit", poll: Self.poll, process: { [unowned self] in commit($0) },
            refuse: { $0.completion(.failure(StorageError("commit", root, errno: ESHUTDOWN))) })
    }

    /// How long the commit thread looks for the next commit before it sleeps (see `BatchThread`):
    /// it takes about 0.3 ms off the `250` of a message that follows another on this machine.
    static let poll = Duration.milliseconds(1.5)

    func start() { thread.start() }

    func submit(_ request: Request) { thread.submit(request) }

    /// Finishes what is queued, then stops the thread.
    func stop() { thread.stop() }

    /// Commits a batch on the calling thread. The committer keeps no state of its own while
    /// committing, so a caller may commit directly (a message Postie makes itself).
    func commit(_ batch: [Request]) {
        let started = ContinuousClock.now
        var staged: [Request] = []
        var failed: [(Request, Error)] = []
        var contents: [UInt8] = []
        defer { for request in staged { close(request.dataFD) } }
        for var request in batch {
            let path = layout.dataPath(request.id)
            do {
                if request.dataFD < 0 {
                    request.dataFD = try layout.createDataFile(request.id)
                    request.nameIsDurable = false
                }
                // Message (when held in memory) and envelope in one write.
                contents.removeAll(keepingCapacity: true)
                for buffer in request.data { contents.append(contentsOf: buffer.readableBytesView) }
                let start = request.size - contents.count
                contents += EnvelopeTrailer.encode(request.envelopeText)
                try POSIXFile.writeAll(request.dataFD, contents, at: start, path: path)
                if !request.prefix.isEmpty { try POSIXFile.writeAll(request.dataFD, request.prefix, at: 0, path: path) }
                let end = start + contents.count
                if request.existingLength > end {
                    while ftruncate(request.dataFD, off_t(end)) != 0 {
                        if errno != EINTR { throw StorageError("ftruncate", path) }
                    }
                }
                staged.append(request)
            } catch {
                if request.dataFD >= 0 { close(request.dataFD) }
                failed.append((request, error))
            }
        }
        do {
            if !staged.isEmpty {
                let newNames = staged.contains { !$0.nameIsDurable }
                try fileSystem.sync(files: staged.map(\.dataFD), directories: newNames ? [layout.dataDirectory] : [])
                observe?(staged.count, (ContinuousClock.now - started) / .seconds(1))
            }
            for request in staged { request.completion(.success(())) }
        } catch {
            // What reached the disk is unknown: the sessions must not say 250. Recovery delivers
            // what did; the client retries and at worst a duplicate arrives.
            for request in staged { failed.append((request, error)) }
        }
        for (request, error) in failed {
            POSIXFile.unlink(layout.dataPath(request.id))
            request.completion(.failure(error))
        }
    }
}
