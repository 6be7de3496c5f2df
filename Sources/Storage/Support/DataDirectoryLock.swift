#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One Postie per data directory: an exclusive `flock` on `<data_dir>/postie.lock`, held for the
/// life of the process (the kernel lets go of it when the process ends, however it ends).
///
/// A second server on the same directory would recover the spool under the first one (removing
/// its files made ahead, so that the first one acknowledges mail into unlinked files) and replace
/// its control socket. So the lock is taken before anything touches the spool, the Maildirs or
/// the socket, and the second process stops with the first one's pid and changes nothing.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Another process holds the lock.
    public struct Held: Error, CustomStringConvertible, Sendable {
        public var directory: String
        /// The holder's pid, as it wrote it into the lock file (nil when unreadable).
        public var pid: Int32?

        public var description: String {
            "another postie\(pid.map { " (pid \($0))" } ?? "") is using \(directory)"
        }
    }

    /// Takes the lock on `directory` (made if missing) or throws `Held`, without waiting.
    public init(directory: String) throws {
        _ = try POSIXFile.makeDirectories(directory)
        path = directory + "/postie.lock"
        // Not O_TRUNC: the holder's pid must still be readable by the one who fails.
        let fd = try POSIXFile.open(path, O_RDWR | O_CREAT, mode: 0o644)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            if error == EINTR { continue }
            let pid = Self.readPID(fd)
            close(fd)
            if error == EWOULDBLOCK { throw Held(directory: directory, pid: pid) }
            throw StorageError("flock", path, errno: error)
        }
        self.fd = fd
        // Tell a second process who has it (informational only: the flock is the lock).
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        try? POSIXFile.writeAll(fd, Array(text.utf8), at: 0, path: path)
    }

    /// Lets go of the lock (also done by the kernel when the process ends). The file stays: removing
    /// it would let a third process lock a new file while a second one waits on the old one.
    public func release() {
        _ = ftruncate(fd, 0)
        // Unlocked explicitly, not only by the close: a child being spawned by another thread at
        // this moment shares the descriptor until its exec, and would hold the lock until then.
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    /// The pid written into an open lock file, if any.
    private static func readPID(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return String(decoding: bytes[..<n], as: UTF8.self).split(whereSeparator: \.isWhitespace).first.flatMap { Int32($0) }
    }
}
