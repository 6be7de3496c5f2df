#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

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

    public func mailboxPath(domain: String, user: String) -> String {
        "\(root)/\(domain)/\(user)"
    }

    /// Creates the Maildir if needed, syncing every directory it creates.
    public func prepare(domain: String, user: String) throws -> String {
        let base = mailboxPath(domain: domain, user: user)
        var created: [String] = []
        for sub in ["tmp", "new", "cur"] {
            created += try POSIXFile.makeDirectories(base + "/" + sub)
        }
        for dir in created.reversed() { try POSIXFile.syncDirectory(POSIXFile.parent(dir)) }
        return base
    }

    /// A message written under `tmp/`, not yet in `new/`.
    public struct Pending: Sendable {
        public var tmpPath: String
        public var finalPath: String
    }

    /// Writes `prefix` (header lines in CRLF form, e.g. `Return-Path:`) and the first `length`
    /// octets of `sourceFD` (CRLF form; all of it when nil) under `tmp/` with LF line endings,
    /// without syncing: `MaildirDeliverer` syncs whole batches and then `publish`es. Blocking.
    public func write(prefix: String, sourceFD: Int32, length: Int? = nil, domain: String, user: String) throws -> Pending {
        let base = try preparedMailbox(domain: domain, user: user)
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let n = deliveries.withLockedValue { c -> UInt64 in
            c += 1
            return c
        }
        let unique = "\(ts.tv_sec).M\(ts.tv_nsec / 1000)P\(getpid())Q\(n).\(hostname)"
        let tmpPath = "\(base)/tmp/\(unique)"
        let fd = try POSIXFile.open(tmpPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        var size = 0
        do {
            defer { close(fd) }
            var converter = LineEndingConverter()
            var out: [UInt8] = []
            out.reserveCapacity(128 * 1024)
            converter.convert(Array(prefix.utf8)[...], into: &out)
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var offset: off_t = 0
            while true {
                let wanted = length.map { min(chunk.count, $0 - Int(offset)) } ?? chunk.count
                if wanted <= 0 { break }
                let got = chunk.withUnsafeMutableBytes { pread(sourceFD, $0.baseAddress!, wanted, offset) }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw StorageError("read", "message")
                }
                if got == 0 { break }
                offset += off_t(got)
                converter.convert(chunk[0..<got], into: &out)
                if out.count >= 64 * 1024 {
                    size += out.count
                    try out.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, path: tmpPath) }
                    out.removeAll(keepingCapacity: true)
                }
            }
            converter.finish(into: &out)
            size += out.count
            try out.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, path: tmpPath) }
        } catch {
            POSIXFile.unlink(tmpPath)
            throw error
        }
        return Pending(tmpPath: tmpPath, finalPath: "\(base)/new/\(unique),S=\(size)")
    }

    /// Moves a written message into `new/`. Not synced: the caller syncs.
    public func publish(_ pending: Pending) throws {
        do {
            try POSIXFile.rename(pending.tmpPath, pending.finalPath)
        } catch {
            POSIXFile.unlink(pending.tmpPath)
            throw error
        }
    }

    /// The mailbox's folder, created (and synced) on first use; known mailboxes cost no system call.
    private func preparedMailbox(domain: String, user: String) throws -> String {
        let base = mailboxPath(domain: domain, user: user)
        if prepared.withLockedValue({ $0.contains(base) }) { return base }
        _ = try prepare(domain: domain, user: user)
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
        input.withUnsafeBufferPointer { buffer in
            var i = 0
            let n = buffer.count
            if pendingCR, n > 0 {
                pendingCR = false
                if buffer[0] != 10 { out.append(13) }
            }
            while i < n {
                // The next CR, or the end.
                var cr = i
                while cr < n && buffer[cr] != 13 { cr += 1 }
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
