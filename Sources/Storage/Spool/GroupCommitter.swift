#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Makes spooled messages durable in batches, on a thread of its own so that no event loop ever
/// waits for the disk. Every message that finished arriving while the previous batch was being
/// synced joins the next batch, and the directory syncs of a batch are shared: concurrent sessions
/// share fsyncs (group commit).
///
/// A message is committed when its envelope file appears in `env/`; the order of a batch is:
/// sync every data file, write and sync every envelope under `tmp/`, rename them into `env/`,
/// then sync `msg/` and `env/`. Only then are the waiting sessions told (and send their `250`).
final class GroupCommitter: @unchecked Sendable {
    struct Request {
        var id: String
        var dataFD: Int32
        var envelopeText: String
        /// Called once, on the commit thread (or the caller's, for `commit(_:)`).
        var completion: @Sendable (Result<Void, Error>) -> Void
    }

    private let layout: SpoolLayout
    private let lock = ConditionLock(value: 0)  // 0: nothing queued, 1: work queued
    private var queue: [Request] = []
    private var stopped = false
    private var thread: Thread?
    private let stoppedSignal = ConditionLock(value: 0)

    init(layout: SpoolLayout) {
        self.layout = layout
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "postie-commit"
        thread.start()
        self.thread = thread
    }

    func submit(_ request: Request) {
        lock.lock()
        if stopped {
            lock.unlock()
            request.completion(.failure(StorageError("commit", layout.root, errno: ESHUTDOWN)))
            return
        }
        queue.append(request)
        lock.unlock(withValue: 1)
    }

    /// Finishes what is queued, then stops the thread.
    func stop() {
        lock.lock()
        stopped = true
        let hadThread = thread != nil
        lock.unlock(withValue: 1)
        if hadThread {
            stoppedSignal.lock(whenValue: 1)
            stoppedSignal.unlock()
        }
    }

    private func run() {
        while true {
            lock.lock(whenValue: 1)
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            let done = stopped
            lock.unlock(withValue: 0)
            if !batch.isEmpty { commit(batch) }
            if done {
                lock.lock()
                let rest = queue
                queue.removeAll()
                lock.unlock()
                if !rest.isEmpty { commit(rest) }
                stoppedSignal.lock()
                stoppedSignal.unlock(withValue: 1)
                return
            }
        }
    }

    /// Commits a batch on the calling thread. The committer keeps no state of its own while
    /// committing, so a caller may commit directly (a message Postie makes itself).
    func commit(_ batch: [Request]) {
        var staged: [(Request, String)] = []
        var failed: [(Request, Error)] = []
        for request in batch {
            let dataPath = layout.dataPath(request.id)
            let tmpPath = layout.tmpPath(request.id)
            do {
                defer { close(request.dataFD) }
                try POSIXFile.sync(request.dataFD, path: dataPath)
                let fd = try POSIXFile.open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC)
                defer { close(fd) }
                try POSIXFile.writeAll(fd, request.envelopeText, path: tmpPath)
                try POSIXFile.sync(fd, path: tmpPath)
                staged.append((request, tmpPath))
            } catch {
                failed.append((request, error))
            }
        }
        var committed: [Request] = []
        for (request, tmpPath) in staged {
            do {
                try POSIXFile.rename(tmpPath, layout.envelopePath(request.id))
                committed.append(request)
            } catch {
                failed.append((request, error))
            }
        }
        do {
            if !committed.isEmpty {
                try POSIXFile.syncDirectory(layout.dataDirectory)
                try POSIXFile.syncDirectory(layout.envelopeDirectory)
            }
            for request in committed { request.completion(.success(())) }
        } catch {
            // The renames may or may not be durable: the sessions must not say 250. Recovery will
            // deliver what did reach the disk; the client retries and at worst a duplicate arrives.
            for request in committed { request.completion(.failure(error)) }
        }
        for (request, error) in failed {
            POSIXFile.unlink(layout.tmpPath(request.id))
            POSIXFile.unlink(layout.dataPath(request.id))
            request.completion(.failure(error))
        }
    }
}
