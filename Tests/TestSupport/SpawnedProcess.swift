import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, its standard input, output and error on pipes.
///
/// Written by hand instead of using Foundation's `Process`: on Linux, `Process.run()` now and then
/// crashes the whole test run with a bad read while it lists `/proc/self/fd` (a 256-octet copy of
/// a `dirent` name past the end of the directory buffer; fixed upstream in
/// swift-corelibs-foundation #5472, not in the toolchain here). Every pipe is made close-on-exec,
/// so no child inherits another's pipe ends (and a reader always sees its end of file).
public final class SpawnedProcess: @unchecked Sendable {
    /// Held from making the pipes (close-on-exec set right after: `pipe2` is not imported) to the
    /// spawn, so that no other spawn can slip in between and inherit them.
    private static let spawning = NIOLock()

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    public let pid: pid_t
    /// The write end of the child's standard input, or nil when it reads /dev/null.
    public private(set) var stdin: Int32?
    /// The read ends of the child's standard output and error.
    public let stdout: Int32
    public let stderr: Int32
    /// The exit status once the child has been reaped: its exit code, or the number of the
    /// signal that ended it (as Foundation's `terminationStatus`).
    private let status = NIOLockedValueBox<Int32?>(nil)

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts `arguments[0]` (searched in PATH when it has no slash) with the test process's
    /// environment, overridden by `environment`.
    public init(_ arguments: [String], environment: [String: String]? = nil, pipeStdin: Bool) throws {
        precondition(!arguments.isEmpty)
        Self.spawning.lock()
        defer { Self.spawning.unlock() }
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw Failure(description: "pipe: errno \(errno)") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        let input = pipeStdin ? try makePipe() : nil
        let output = try makePipe()
        let error = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, error.write, 2)
        // Nothing else the test process has open goes to the child, close-on-exec or not (glibc
        // 2.34 and later; not imported into Swift, hence the look-up).
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        // The child starts with every signal at its default and none blocked: the test process
        // ignores SIGPIPE, which a child would otherwise inherit.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment ?? [:] { env[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child = pid_t()
        let rc = posix_spawnp(&child, arguments[0], &actions, &attributes, argv, envp)
        // The child has its copies; the parent keeps only its own ends.
        if let input { close(input.read) }
        close(output.write)
        close(error.write)
        guard rc == 0 else {
            if let input { close(input.write) }
            close(output.read)
            close(error.read)
            throw Failure(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
        stdin = input?.write
        stdout = output.read
        stderr = error.read
    }

    deinit {
        if let stdin { close(stdin) }
        close(stdout)
        close(stderr)
    }

    /// Writes all of `data` to the child's standard input (ignoring a child that has gone).
    public func write(_ data: [UInt8]) {
        guard let fd = stdin else { return }
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Closes the child's standard input: it reads end of file.
    public func closeStdin() {
        if let fd = stdin { close(fd) }
        stdin = nil
    }

    /// Reads `fd` to its end of file (blocking), handing each piece read to `body`.
    public static func readChunks(_ fd: Int32, _ body: (ArraySlice<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            body(buffer[0..<n])
        }
    }

    /// Reads `fd` to its end of file (blocking).
    public static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        readChunks(fd) { data.append(contentsOf: $0) }
        return data
    }

    /// Reaps the child if it has ended (`wait`: until it has); returns its status then.
    private func reap(wait: Bool) -> Int32? {
        status.withLockedValue { status in
            if let status { return status }
            var raw: Int32 = 0
            while true {
                let r = waitpid(pid, &raw, wait ? 0 : WNOHANG)
                if r == -1 && errno == EINTR { continue }
                guard r == pid else { return nil }
                break
            }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : signal
            return status
        }
    }

    public var isRunning: Bool { reap(wait: false) == nil }

    /// Waits for the child to end; returns its status.
    @discardableResult
    public func waitUntilExit() -> Int32 { reap(wait: true) ?? -1 }

    /// The status, once the child has ended.
    public var terminationStatus: Int32? { reap(wait: false) }
}
