#if canImport(Glibc)
import Glibc
#endif

/// Delivers into Maildirs in batches on a thread of its own, sharing the syncs: every delivery
/// asked for while the previous batch was being synced joins the next one. A batch writes all its
/// files under `tmp/`, syncs them (the contents are durable), renames them into `new/`, and syncs
/// the `new/` folders (the names are durable): a file in `new/` is always whole, and the caller
/// hears of a delivery only once it is durable. At most two syncs of the file system per batch,
/// however many messages (`FilesystemSync` syncs a few files one by one, which is cheaper).
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

    struct Request {
        /// The spooled message (CRLF form), read for every job: its first `messageSize` octets.
        var messagePath: String
        var messageSize: Int?
        var jobs: [Job]
        var completion: @Sendable ([Result<String, any Error>]) -> Void
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

    /// Delivers the message at `messagePath` (its first `messageSize` octets; all when nil) for
    /// each job; the results come in the same order.
    public func deliver(messagePath: String, messageSize: Int? = nil, jobs: [Job]) async -> [Result<String, any Error>] {
        await withCheckedContinuation { continuation in
            thread.submit(Request(messagePath: messagePath, messageSize: messageSize, jobs: jobs) { continuation.resume(returning: $0) })
        }
    }

    private static func process(_ batch: [Request], writer: MaildirWriter, fileSystem: FilesystemSync) {
        var written: [[Result<MaildirWriter.Pending, any Error>]] = []
        for request in batch {
            let fd: Int32
            do {
                fd = try POSIXFile.open(request.messagePath, O_RDONLY)
            } catch {
                written.append(request.jobs.map { _ in .failure(error) })
                continue
            }
            defer { close(fd) }
            written.append(
                request.jobs.map { job in
                    Result {
                        try writer.write(prefix: job.prefix, sourceFD: fd, length: request.messageSize, domain: job.domain, user: job.user)
                    }
                })
        }
        var results: [[Result<String, any Error>]] = written.map { $0.map { $0.map(\.finalPath) } }
        do {
            let pending = written.flatMap { $0.compactMap { try? $0.get() } }
            try fileSystem.sync(filePaths: pending.map(\.tmpPath))
            for (r, files) in written.enumerated() {
                for (j, file) in files.enumerated() {
                    guard case .success(let pending) = file else { continue }
                    do { try writer.publish(pending) } catch { results[r][j] = .failure(error) }
                }
            }
            let newDirectories = Set(pending.map { POSIXFile.parent($0.finalPath) })
            try fileSystem.sync(directories: newDirectories.sorted())
        } catch {
            // Whether the files are durable is unknown: report every one as failed (to be tried
            // again; at worst the mailbox gets a duplicate).
            results = results.map { $0.map { _ in .failure(error) } }
        }
        for (request, result) in zip(batch, results) { request.completion(result) }
    }
}
