#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

/// Delivers messages into Maildirs (`tmp/`, `new/`, `cur/`) under a mail root, laid out as
/// `<root>/<domain>/<user>/`. A message is written under `tmp/`, synced, and renamed into `new/`
/// under a unique name (`<seconds>.M<microseconds>P<pid>Q<count>.<host>,S=<size>`), then `new/` is
/// synced: a file in `new/` is always whole. Line endings become LF, as Maildir readers expect.
public final class MaildirWriter: Sendable {
    public let root: String
    private let hostname: String
    private let deliveries = NIOLockedValueBox<UInt64>(0)

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

    /// Writes `prefix` (header lines in CRLF form, e.g. `Return-Path:`) and the message read from
    /// `sourceFD` (CRLF form) into the mailbox with LF line endings. Blocking: thread pool only.
    /// Returns the path of the file in `new/`.
    public func deliver(prefix: String, sourceFD: Int32, domain: String, user: String) throws -> String {
        let base = try prepare(domain: domain, user: user)
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
            if lseek(sourceFD, 0, SEEK_SET) < 0 { throw StorageError("lseek", "message") }
            while true {
                let got = chunk.withUnsafeMutableBytes { read(sourceFD, $0.baseAddress!, $0.count) }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw StorageError("read", "message")
                }
                if got == 0 { break }
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
            try POSIXFile.sync(fd, path: tmpPath)
        } catch {
            POSIXFile.unlink(tmpPath)
            throw error
        }
        let finalPath = "\(base)/new/\(unique),S=\(size)"
        do {
            try POSIXFile.rename(tmpPath, finalPath)
            try POSIXFile.syncDirectory(base + "/new")
        } catch {
            POSIXFile.unlink(tmpPath)
            throw error
        }
        return finalPath
    }
}

/// CRLF to LF across chunk boundaries. A CR not followed by LF is kept (the spool never holds
/// one, but the converter should not lose octets if it did).
struct LineEndingConverter {
    private var pendingCR = false

    mutating func convert(_ input: ArraySlice<UInt8>, into out: inout [UInt8]) {
        for b in input {
            if pendingCR {
                pendingCR = false
                if b == 10 {
                    out.append(10)
                    continue
                }
                out.append(13)
            }
            if b == 13 {
                pendingCR = true
            } else {
                out.append(b)
            }
        }
    }

    mutating func finish(into out: inout [UInt8]) {
        if pendingCR { out.append(13) }
        pendingCR = false
    }
}
