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
public final class MaildirDeliverer: Sendable {
    public struct Job: Sendable {
        /// Header lines to put first (CRLF form), e.g. `Return-Path:`.
        public var prefix: String
        public var domain: String
        public var user: String

        public init(prefix: String, domain: String, user: String) {
            self.prefix = prefix
            self.domain = domain
            self.user = user
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

    public init(writer: MaildirWriter) throws {
        self.writer = writer
        let fileSystem = try FilesystemSync(path: writer.root)
        self.fileSystem = fileSystem
        thread = BatchThread(
            name: "postie-maildir",
            process: { Self.process($0, writer: writer, fileSystem: fileSystem) },
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

    private static func process(_ batch: [Request], writer: MaildirWriter, fileSystem: FilesystemSync) {
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
                        let pending = try writer.write(prefix: group.prefix, message: request.message, domain: job.domain, user: job.user)
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
            try fileSystem.sync(files: written.map(\.pending.fd))
        } catch {
            // Whether the files are durable is unknown: none goes into `new/`; each is tried again.
            for w in written {
                POSIXFile.unlink(w.pending.tmpPath)
                for j in w.jobs { results[w.request][j] = .failure(error) }
            }
            written = []
        }
        // The names: links into the other mailboxes first, while the file is still in `tmp/`.
        var newDirectories = Set<String>()
        for w in written {
            let request = batch[w.request]
            for j in w.jobs.dropFirst() {
                let job = request.jobs[j]
                results[w.request][j] = Result {
                    do {
                        return try writer.link(w.pending, domain: job.domain, user: job.user)
                    } catch {
                        // Another file system, or too many links: a copy of its own instead.
                        return try writer.deliver(prefix: job.prefix, message: request.message, domain: job.domain, user: job.user)
                    }
                }
                if case .success(let path) = results[w.request][j] { newDirectories.insert(POSIXFile.parent(path)) }
            }
            do {
                try writer.publish(w.pending)
                results[w.request][w.jobs[0]] = .success(w.pending.finalPath)
                newDirectories.insert(POSIXFile.parent(w.pending.finalPath))
            } catch {
                results[w.request][w.jobs[0]] = .failure(error)
            }
        }
        do {
            try fileSystem.sync(directories: newDirectories.sorted())
        } catch {
            // Whether the names are durable is unknown: report every one as failed (to be tried
            // again; at worst the mailbox gets a duplicate).
            results = results.map { $0.map { _ in .failure(error) } }
        }
        for (request, result) in zip(batch, results) { request.completion(result) }
    }
}
