#if canImport(Glibc)
import Glibc
#endif

/// Delivers into Maildirs in batches on a thread of its own, sharing the syncs: every delivery
/// asked for while the previous batch was being synced joins the next one. A batch writes all its
/// files under `tmp/`, syncs them (the contents are durable), links and renames them into `new/`,
/// and syncs the `new/` folders (the names are durable): a file in `new/` is always whole, and
/// the caller hears of a delivery only once it is durable. At most two syncs of the file system
/// per batch, however many messages (`FilesystemSync` syncs a few files one by one, which is
/// cheaper). A message for several mailboxes is written once and hard-linked into the others.
///
/// A batch of one (a quiet server, or one client sending message after message) puts off the
/// sync of its folder for up to `linger`, to share it with the lone deliveries after it or with
/// the next larger batch; a batch whose contents took a `syncfs` makes the earlier names durable
/// with it. So a stream of single messages costs one sync each, not two, and leaves the device
/// freer for the next message's commit. A busy server's batches sync their folders at once:
/// putting that off would make the batches after them smaller, and more of them.
public final class MaildirDeliverer: Sendable {
    public struct Job: Sendable {
        /// Header lines to put first (CRLF form), e.g. `Return-Path:`.
        public var prefix: String
        public var domain: String
        public var user: String

        /// A Maildir++ folder of the mailbox (`Junk`), or nil for the inbox.
        public var folder: String?

        public init(prefix: String, domain: String, user: String, folder: String? = nil) {
            self.prefix = prefix
            self.domain = domain
            self.user = user
            self.folder = folder
        }
    }

    /// Each job's outcome, in the jobs' order: the file's path in `new/`, or why not.
    public typealias Results = [Result<String, any Error>]

    struct Request {
        var message: MessageSource
        var jobs: [Job]
        var completion: @Sendable (Results) -> Void
    }

    public let writer: MaildirWriter
    private let fileSystem: FilesystemSync
    private let thread: BatchThread<Request>

    /// How long a delivery in `new/` may wait for its folder's sync, shared with later ones.
    public static let defaultLinger = Duration.milliseconds(4)

    public init(writer: MaildirWriter, linger: Duration = defaultLinger) throws {
        self.writer = writer
        let fileSystem = try FilesystemSync(path: writer.root)
        self.fileSystem = fileSystem
        let published = Published()
        thread = BatchThread(
            name: "postie-maildir", linger: linger,
            process: { Self.process($0, writer: writer, fileSystem: fileSystem, published: published) },
            settle: { published.settle(fileSystem) },
            refuse: { $0.completion($0.jobs.map { _ in .failure(StorageError("deliver", writer.root, errno: ESHUTDOWN)) }) })
        thread.start()
    }

    /// Finishes the deliveries queued, then stops.
    public func stop() { thread.stop() }

    /// Delivers the message for each job; the results come in the same order.
    public func deliver(_ message: MessageSource, jobs: [Job]) async -> Results {
        await withCheckedContinuation { continuation in
            submit(message, jobs: jobs) { continuation.resume(returning: $0) }
        }
    }

    /// Delivers the message for each job and calls `completion` with the results, on the
    /// delivery thread (keep it short: the next batch waits for it).
    public func submit(_ message: MessageSource, jobs: [Job], completion: @escaping @Sendable (Results) -> Void) {
        thread.submit(Request(message: message, jobs: jobs, completion: completion))
    }

    /// One file written for the jobs (of one request) that share its prefix.
    private struct Written {
        var request: Int
        var jobs: [Int]
        var pending: MaildirWriter.Pending
    }

    /// Requests whose files are durable and in `new/`, waiting for their folders' sync. Used on
    /// the delivery thread only.
    private final class Published: @unchecked Sendable {
        private var waiting: [(request: Request, results: Results)] = []
        private var directories = Set<String>()

        var isEmpty: Bool { waiting.isEmpty }

        func add(_ request: Request, _ results: Results, directories new: Set<String>) {
            waiting.append((request, results))
            directories.formUnion(new)
        }

        /// Everything written before is durable (a whole-file-system sync began after it).
        func settled() {
            let done = waiting
            waiting = []
            directories = []
            for (request, results) in done { request.completion(results) }
        }

        /// Syncs the folders, then tells every waiting request.
        func settle(_ fileSystem: FilesystemSync) {
            guard !waiting.isEmpty else { return }
            do {
                try fileSystem.sync(directories: directories.sorted())
            } catch {
                // Whether the names are durable is unknown: report every one as failed (to be
                // tried again; at worst the mailbox gets a duplicate).
                waiting = waiting.map { ($0.request, $0.results.map { _ in .failure(error) }) }
            }
            settled()
        }
    }

    /// Returns whether deliveries wait for their folders' sync (`Published.settle`).
    private static func process(_ batch: [Request], writer: MaildirWriter, fileSystem: FilesystemSync, published: Published) -> Bool {
        var results: [Results] = batch.map { $0.jobs.map { _ in .failure(StorageError("deliver", writer.root, errno: EIO)) } }
        var written: [Written] = []
        for (r, request) in batch.enumerated() {
            // Jobs with the same prefix get the same file (in practice: all of them).
            var groups: [(prefix: String, jobs: [Int])] = []
            for (j, job) in request.jobs.enumerated() {
                if let g = groups.firstIndex(where: { $0.prefix == job.prefix }) {
                    groups[g].jobs.append(j)
                } else {
                    groups.append((job.prefix, [j]))
                }
            }
            for group in groups {
                // Written into the first mailbox that takes it: one that cannot (say, its folder
                // cannot be made) must not hold up the others.
                for (k, j) in group.jobs.enumerated() {
                    let job = request.jobs[j]
                    do {
                        let pending = try writer.write(prefix: group.prefix, message: request.message, domain: job.domain, user: job.user, folder: job.folder)
                        written.append(Written(request: r, jobs: Array(group.jobs[k...]), pending: pending))
                        break
                    } catch {
                        results[r][j] = .failure(error)
                    }
                }
            }
        }
        // The contents.
        do {
            defer { for w in written { close(w.pending.fd) } }
            if try fileSystem.sync(files: written.map(\.pending.fd)) {
                // A whole-file-system sync: the names renamed by earlier batches are durable too.
                published.settled()
            }
        } catch {
            // Whether the files are durable is unknown: none goes into `new/`; each is tried again.
            for w in written {
                POSIXFile.unlink(w.pending.tmpPath)
                for j in w.jobs { results[w.request][j] = .failure(error) }
            }
            written = []
        }
        // The names: links into the other mailboxes first, while the file is still in `tmp/`.
        var newDirectories = [Set<String>](repeating: [], count: batch.count)
        for w in written {
            let request = batch[w.request]
            for j in w.jobs.dropFirst() {
                let job = request.jobs[j]
                results[w.request][j] = Result {
                    do {
                        return try writer.link(w.pending, domain: job.domain, user: job.user, folder: job.folder)
                    } catch {
                        // Another file system, or too many links: a copy of its own instead.
                        return try writer.deliver(prefix: job.prefix, message: request.message, domain: job.domain, user: job.user, folder: job.folder)
                    }
                }
                if case .success(let path) = results[w.request][j] { newDirectories[w.request].insert(POSIXFile.parent(path)) }
            }
            do {
                try writer.publish(w.pending)
                results[w.request][w.jobs[0]] = .success(w.pending.finalPath)
                newDirectories[w.request].insert(POSIXFile.parent(w.pending.finalPath))
            } catch {
                results[w.request][w.jobs[0]] = .failure(error)
            }
        }
        for (r, request) in batch.enumerated() {
            if newDirectories[r].isEmpty {
                // Nothing of it reached `new/`: nothing to wait for.
                request.completion(results[r])
            } else {
                published.add(request, results[r], directories: newDirectories[r])
            }
        }
        // A lone delivery waits for company; a batch of several (the server is busy) syncs its
        // folders now, with those of the lone ones before it: putting it off would make the next
        // batches smaller, and a busy server is faster with fewer, larger batches.
        if batch.count > 1 { published.settle(fileSystem) }
        return !published.isEmpty
    }
}
