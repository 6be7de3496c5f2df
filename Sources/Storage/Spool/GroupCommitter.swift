#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Makes spooled messages durable in batches, on a thread of its own so that no event loop ever
/// waits for the disk. Every message that finished arriving while the previous batch was being
/// synced joins the next batch; a batch costs at most two syncs of the file system however many
/// messages it holds (a small batch syncs its few files one by one, which is cheaper): concurrent
/// sessions share them (group commit).
///
/// A message is committed when its envelope file appears in `env/`; the order of a batch is:
/// write every envelope under `tmp/`; sync (message data, envelopes and the data files' names are
/// now durable); rename the envelopes into `env/`; sync `env/` (the names are now durable). Only then are the waiting
/// sessions told (and send their `250`). A crash before the second sync leaves at most envelopes
/// in `tmp/` and data files without an envelope, which recovery removes: never acknowledged.
final class GroupCommitter: @unchecked Sendable {
    struct Request {
        var id: String
        var dataFD: Int32
        var envelopeText: String
        /// Called once, on the commit thread (or the caller's, for `commit(_:)`).
        var completion: @Sendable (Result<Void, Error>) -> Void
    }

    private let layout: SpoolLayout
    private let fileSystem: FilesystemSync
    private var thread: BatchThread<Request>!

    init(layout: SpoolLayout, fileSystem: FilesystemSync) {
        self.layout = layout
        self.fileSystem = fileSystem
        let root = layout.root
        thread = BatchThread(
            name: "postie-commit", process: { [unowned self] in commit($0) },
            refuse: { $0.completion(.failure(StorageError("commit", root, errno: ESHUTDOWN))) })
    }

    func start() { thread.start() }

    func submit(_ request: Request) { thread.submit(request) }

    /// Finishes what is queued, then stops the thread.
    func stop() { thread.stop() }

    /// Commits a batch on the calling thread. The committer keeps no state of its own while
    /// committing, so a caller may commit directly (a message Postie makes itself).
    func commit(_ batch: [Request]) {
        var staged: [Request] = []
        var envelopeFDs: [Int32] = []
        var failed: [(Request, Error)] = []
        defer {
            for fd in envelopeFDs { close(fd) }
            for request in batch { close(request.dataFD) }
        }
        for request in batch {
            let tmpPath = layout.tmpPath(request.id)
            do {
                let fd = try POSIXFile.open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC)
                envelopeFDs.append(fd)
                try POSIXFile.writeAll(fd, request.envelopeText, path: tmpPath)
                staged.append(request)
            } catch {
                failed.append((request, error))
            }
        }
        var committed: [Request] = []
        do {
            if !staged.isEmpty {
                // Message data, envelopes and the data files' names; then the envelopes' new names.
                try fileSystem.sync(files: staged.map(\.dataFD) + envelopeFDs, directories: [layout.dataDirectory])
            }
            for request in staged {
                do {
                    try POSIXFile.rename(layout.tmpPath(request.id), layout.envelopePath(request.id))
                    committed.append(request)
                } catch {
                    failed.append((request, error))
                }
            }
            if !committed.isEmpty { try fileSystem.sync(directories: [layout.envelopeDirectory]) }
            for request in committed { request.completion(.success(())) }
        } catch {
            // What reached the disk is unknown: the sessions must not say 250. Recovery delivers
            // what did; the client retries and at worst a duplicate arrives.
            for request in staged where !committed.contains(where: { $0.id == request.id }) { failed.append((request, error)) }
            for request in committed { request.completion(.failure(error)) }
        }
        for (request, error) in failed {
            POSIXFile.unlink(layout.tmpPath(request.id))
            POSIXFile.unlink(layout.dataPath(request.id))
            request.completion(.failure(error))
        }
    }
}
