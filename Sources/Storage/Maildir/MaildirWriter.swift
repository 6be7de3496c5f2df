#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore
import SMTPCore

/// Where a message to deliver comes from: the spool file or, for a small message just received,
/// memory. CRLF form either way.
public enum MessageSource: Sendable {
    /// The file's first `size` octets (all of it when nil).
    case file(path: String, size: Int?)
    case memory([ByteBuffer])

    var knownSize: Int? {
        switch self {
        case .file(_, let size): size
        case .memory(let buffers): buffers.reduce(0) { $0 + $1.readableBytes }
        }
    }
}

/// Writes messages into Maildirs (`tmp/`, `new/`, `cur/`) under a mail root, laid out as
/// `<root>/<domain>/<user>/`. A message is written under `tmp/` and, once synced, renamed into
/// `new/` under a unique name (`<seconds>.M<microseconds>P<pid>Q<count>.<host>,S=<size>`);
/// `MaildirDeliverer` does the syncing, for whole batches. Line endings become LF, as Maildir
/// readers expect.
public final class MaildirWriter: Sendable {
    public let root: String
    private let hostname: String
    private let deliveries = NIOLockedValueBox<UInt64>(0)
    private let prepared = NIOLockedValueBox<Set<String>>([])

    public init(root: String, hostname: String) {
        self.root = root
        // '/' and ':' cannot appear in a Maildir file name's host part.
        self.hostname = String(hostname.map { $0 == "/" ? "\\057" : $0 == ":" ? "\\072" : String($0) }.joined())
    }

    /// The mailbox's Maildir; with a folder, the Maildir++ folder in it (`<mailbox>/.Junk`).
    public func mailboxPath(domain: String, user: String, folder: String? = nil) -> String {
        "\(root)/\(domain)/\(user)" + (folder.map { "/.\($0)" } ?? "")
    }

    /// Creates the Maildir (or Maildir++ folder, with its `maildirfolder` mark) if needed,
    /// syncing every directory it creates.
    public func prepare(domain: String, user: String, folder: String? = nil) throws -> String {
        let base = mailboxPath(domain: domain, user: user, folder: folder)
        var created: [String] = []
        for sub in ["tmp", "new", "cur"] {
            created += try POSIXFile.makeDirectories(base + "/" + sub)
        }
        if folder != nil, !created.isEmpty {
            let mark = try POSIXFile.open(base + "/maildirfolder", O_WRONLY | O_CREAT, mode: 0o600)
            close(mark)
        }
        for dir in created.reversed() { try POSIXFile.syncDirectory(POSIXFile.parent(dir)) }
        return base
    }

    /// A message written under `tmp/`, not yet in `new/`; its file is still open, for the sync.
    public struct Pending: Sendable {
        public var tmpPath: String
        /// The file's name in `new/`: `<unique>,S=<size>` (the same in every mailbox it goes to).
        public var name: String
        public var fd: Int32
        /// Where `publish` puts it.
        public var finalPath: String
    }

    /// Writes `prefix` (header lines in CRLF form, e.g. `Return-Path:`) and the message (CRLF
    /// form) under the mailbox's `tmp/` with LF line endings, without syncing and leaving the file
    /// open: `MaildirDeliverer` syncs whole batches, closes, and then `publish`es. Blocking.
    public func write(prefix: String, message: MessageSource, domain: String, user: String, folder: String? = nil) throws -> Pending {
        let base = try preparedMailbox(domain: domain, user: user, folder: folder)
        let unique = uniqueName()
        let tmpPath = "\(base)/tmp/\(unique)"
        let fd = try POSIXFile.open(tmpPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        var size = 0
        do {
            var converter = LineEndingConverter()
            var out: [UInt8] = []
            out.reserveCapacity(min(128 * 1024, message.knownSize.map { $0 + prefix.utf8.count + 16 } ?? .max))
            converter.convert(Array(prefix.utf8)[...], into: &out)
            // Written out in pieces of about 64 KiB, so a large message never sits whole in memory.
            func flush(_ force: Bool) throws {
                guard force || out.count >= 64 * 1024 else { return }
                size += out.count
                try out.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, path: tmpPath) }
                out.removeAll(keepingCapacity: true)
            }
            switch message {
            case .memory(let buffers):
                for buffer in buffers {
                    buffer.withUnsafeReadableBytes { converter.convert($0.bindMemory(to: UInt8.self), into: &out) }
                    try flush(false)
                }
            case .file(let path, let length):
                let source = try POSIXFile.open(path, O_RDONLY)
                defer { close(source) }
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                var offset: off_t = 0
                while true {
                    let wanted = length.map { min(chunk.count, $0 - Int(offset)) } ?? chunk.count
                    if wanted <= 0 { break }
                    let got = chunk.withUnsafeMutableBytes { pread(source, $0.baseAddress!, wanted, offset) }
                    if got < 0 {
                        if errno == EINTR { continue }
                        throw StorageError("read", path)
                    }
                    if got == 0 { break }
                    offset += off_t(got)
                    chunk.withUnsafeBufferPointer { converter.convert(UnsafeBufferPointer(rebasing: $0[0..<got]), into: &out) }
                    try flush(false)
                }
            }
            converter.finish(into: &out)
            try flush(true)
        } catch {
            close(fd)
            POSIXFile.unlink(tmpPath)
            throw error
        }
        let name = "\(unique),S=\(size)"
        return Pending(tmpPath: tmpPath, name: name, fd: fd, finalPath: "\(base)/new/\(name)")
    }

    /// Writes, syncs and publishes one message on its own (not batched). Blocking.
    public func deliver(prefix: String, message: MessageSource, domain: String, user: String, folder: String? = nil) throws -> String {
        let pending = try write(prefix: prefix, message: message, domain: domain, user: user, folder: folder)
        do {
            defer { close(pending.fd) }
            try POSIXFile.sync(pending.fd, path: pending.tmpPath)
        } catch {
            POSIXFile.unlink(pending.tmpPath)
            throw error
        }
        try publish(pending)
        try POSIXFile.syncDirectory(POSIXFile.parent(pending.finalPath))
        return pending.finalPath
    }

    /// Moves a written (synced, closed) message into `new/`. Not synced: the caller syncs.
    public func publish(_ pending: Pending) throws {
        do {
            try POSIXFile.rename(pending.tmpPath, pending.finalPath)
        } catch {
            POSIXFile.unlink(pending.tmpPath)
            throw error
        }
    }

    /// Puts a written (synced) message into another mailbox's `new/` as a hard link: a message
    /// for several mailboxes is written once (as Dovecot does). Maildir files are never changed
    /// in place, only renamed or removed, so the mailboxes stay independent. Not synced: the
    /// caller syncs. Returns the new path.
    public func link(_ pending: Pending, domain: String, user: String, folder: String? = nil) throws -> String {
        let base = try preparedMailbox(domain: domain, user: user, folder: folder)
        let path = "\(base)/new/\(pending.name)"
        while Glibc.link(pending.tmpPath, path) != 0 {
            if errno != EINTR { throw StorageError("link", path) }
        }
        return path
    }

    /// Removes what a Postie that died while writing left in the mailboxes' `tmp/` folders: files
    /// named as this writer names them (`<s>.M<µs>P<pid>Q<n>.<host>`) by another process. Call
    /// it only while holding the data directory's lock, so that no other Postie can be writing
    /// there; files of other programs (Dovecot names its own without `Q<n>`) are left alone.
    /// Returns the paths removed. Blocking.
    @discardableResult
    public func removeDeadWrites() -> [String] {
        var removed: [String] = []
        for domain in (try? POSIXFile.listDirectory(root)) ?? [] {
            for user in (try? POSIXFile.listDirectory("\(root)/\(domain)")) ?? [] {
                let tmp = "\(root)/\(domain)/\(user)/tmp"
                for name in (try? POSIXFile.listDirectory(tmp)) ?? [] {
                    guard let pid = Self.writerPID(name), pid != Self.pid else { continue }
                    POSIXFile.unlink("\(tmp)/\(name)")
                    removed.append("\(tmp)/\(name)")
                }
            }
        }
        return removed
    }

    /// The pid in a name this writer made, nil for any other name.
    static func writerPID(_ name: String) -> pid_t? {
        func digits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0 >= "0" && $0 <= "9" } }
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, digits(parts[0]), parts[1].first == "M" else { return nil }
        let unique = parts[1].dropFirst()
        guard let p = unique.firstIndex(of: "P"), let q = unique.firstIndex(of: "Q"), p < q else { return nil }
        let micro = unique[..<p]
        let pid = unique[unique.index(after: p)..<q]
        let count = unique[unique.index(after: q)...]
        guard digits(micro), digits(pid), digits(count) else { return nil }
        return pid_t(pid)
    }

    /// Taken once: `getpid` is a system call, and the process does not fork.
    static let pid = getpid()

    private func uniqueName() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let n = deliveries.withLockedValue { c -> UInt64 in
            c += 1
            return c
        }
        return "\(ts.tv_sec).M\(ts.tv_nsec / 1000)P\(Self.pid)Q\(n).\(hostname)"
    }

    /// The mailbox's folder, created (and synced) on first use; known mailboxes cost no system call.
    private func preparedMailbox(domain: String, user: String, folder: String?) throws -> String {
        let base = mailboxPath(domain: domain, user: user, folder: folder)
        if prepared.withLockedValue({ $0.contains(base) }) { return base }
        _ = try prepare(domain: domain, user: user, folder: folder)
        prepared.withLockedValue { _ = $0.insert(base) }
        return base
    }
}

/// CRLF to LF across chunk boundaries. A CR not followed by LF is kept (the spool never holds
/// one, but the converter should not lose octets if it did). Copies the runs between CRs in bulk:
/// a 10 MiB message is a few thousand copies, not ten million appends.
struct LineEndingConverter {
    private var pendingCR = false

    mutating func convert(_ input: ArraySlice<UInt8>, into out: inout [UInt8]) {
        input.withUnsafeBufferPointer { convert($0, into: &out) }
    }

    mutating func convert(_ buffer: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        do {
            var i = 0
            let n = buffer.count
            if pendingCR, n > 0 {
                pendingCR = false
                if buffer[0] != 10 { out.append(13) }
            }
            while i < n {
                // The next CR, or the end.
                let cr = OctetScan.firstIndex(of: 13, in: UnsafeRawBufferPointer(buffer), from: i)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[i..<cr]))
                if cr == n { break }
                if cr + 1 == n {
                    pendingCR = true  // decided by the next chunk
                    break
                }
                if buffer[cr + 1] != 10 { out.append(13) }
                i = cr + 1
            }
        }
    }

    mutating func finish(into out: inout [UInt8]) {
        if pendingCR { out.append(13) }
        pendingCR = false
    }
}
