#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An error from a file system call, with the call and the path, for logs and replies.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }

    /// The file system (or the user's quota on it) is full: a temporary condition for clients
    /// (`452 4.3.1`), and one the operator must hear about.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}

/// Thin wrappers over the POSIX calls the spool and Maildir need, with EINTR handled. Written by
/// hand because durability needs exact control of open flags, fsync and rename, which higher-level
/// file APIs hide.
public enum POSIXFile {
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw StorageError("open", path) }
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError("write", path)
            }
            offset += n
        }
    }

    /// Writes all of `bytes` at `offset`, whatever the file position.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError("pwrite", path)
            }
            done += n
        }
    }

    public static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, path: String) throws {
        try buffer.withUnsafeReadableBytes { try writeAll(fd, $0, path: path) }
    }

    public static func writeAll(_ fd: Int32, _ text: String, path: String) throws {
        var text = text
        try text.withUTF8 { try writeAll(fd, UnsafeRawBufferPointer($0), path: path) }
    }

    public static func sync(_ fd: Int32, path: String) throws {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw StorageError("fdatasync", path) }
        }
    }

    /// Makes a directory's entries (new and renamed files) durable.
    public static func syncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        while fsync(fd) != 0 {
            if errno != EINTR { throw StorageError("fsync", path) }
        }
    }

    public static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw StorageError("rename", from) }
    }

    public static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// `mkdir -p`; returns the directories it created, parents first, so callers can sync them.
    @discardableResult
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws -> [String] {
        var created: [String] = []
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) == 0 {
                created.append(current)
            } else if errno != EEXIST {
                throw StorageError("mkdir", current)
            }
        }
        return created
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw StorageError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Makes a new file holding `contents`, synced, with `mode` (0600: a key or a secret); never
    /// over an existing file (then the error's `errno` is `EEXIST`). A file not wholly written is
    /// removed.
    public static func createNew(_ path: String, contents: [UInt8], mode: mode_t = 0o600) throws {
        let fd = try open(path, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        defer { close(fd) }
        do {
            try writeAll(fd, contents, at: 0, path: path)
            try sync(fd, path: path)
        } catch {
            unlink(path)
            throw error
        }
    }

    /// The file's first `limit` octets (all of it when shorter).
    public static func readAll(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, wanted) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError("read", path)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// Takes away all access by others (the `o` bits) from a file or folder; returns the mode it
    /// had when there was any to take, nil when there was none.
    public static func removeOthersAccess(_ path: String) throws -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StorageError("stat", path) }
        let mode = st.st_mode & 0o7777
        guard mode & 0o007 != 0 else { return nil }
        guard chmod(path, mode & ~0o007) == 0 else { throw StorageError("chmod", path) }
        return mode
    }

    /// The mount point of the file system that holds `path` (the path itself when it cannot be
    /// told), so that a log line can say which file system is full.
    public static func mountPoint(of path: String) -> String {
        var st = stat()
        guard let resolved = realpath(path, nil) else { return path }
        var current = String(cString: resolved)
        free(resolved)
        guard stat(current, &st) == 0 else { return path }
        let device = st.st_dev
        while current != "/" {
            let up = parent(current)
            guard stat(up, &st) == 0, st.st_dev == device else { break }
            current = up
        }
        return current
    }

    /// The parent directory of a path.
    public static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
