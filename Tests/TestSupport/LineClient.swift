import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client for live tests: sends raw octets and reads reply lines, with a
/// read timeout so a test can never hang.
public final class LineClient: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    public private(set) var closed = false

    public init(port: Int, host: String = "127.0.0.1", timeout: TimeInterval = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Shuts down our sending side only (a TCP half-close, as `nc -N` does): the server sees a FIN
    /// and we can still read its replies.
    public func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes our side at once (a client that drops the connection).
    public func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// The next reply line without CRLF, or nil when the server closed the connection (or said
    /// nothing before the timeout).
    public func readLine() -> String? {
        while true {
            if let lf = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<lf])
                buffer.removeFirst(lf + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                closed = true
                return nil
            }
            buffer += chunk[0..<n]
        }
    }

    /// Reads lines up to and including the last line of a reply (`250 …` after `250-…`).
    public func readReply() -> [String] {
        var lines: [String] = []
        while let line = readLine() {
            lines.append(line)
            if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
        }
        return lines
    }

    /// Whether the server has closed the connection (waits for it up to the read timeout).
    public func waitForClose() -> Bool {
        while readLine() != nil {}
        return closed
    }

    /// Runs a transcript's exchanges; returns the problems found.
    public func run(_ transcript: Transcript) -> [String] {
        var problems: [String] = []
        for exchange in transcript.exchanges {
            if !exchange.send.isEmpty { send(exchange.send) }
            var lines: [String] = []
            let wanted = Transcript.expectedLineCount(exchange.expect)
            while lines.count < wanted, let line = readLine() { lines.append(line) }
            let expectsClose = exchange.expect.contains(.expectClose)
            let closedNow = expectsClose ? waitForClose() : closed
            problems += Transcript.compare(lines, closed: closedNow, with: exchange.expect).map { "\(transcript.name): \($0)" }
            if !problems.isEmpty { break }
        }
        return problems
    }
}

/// Runs a program to its end and returns what it printed.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Subprocess {
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
        let process = try SpawnedProcess(["/usr/bin/env"] + arguments, environment: environment, pipeStdin: true)
        // Read both pipes while the process runs, so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            outData = SpawnedProcess.readAll(process.stdout)
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            errData = SpawnedProcess.readAll(process.stderr)
            group.leave()
        }
        if let stdin { process.write(Array(stdin.utf8)) }
        process.closeStdin()
        group.wait()
        let status = process.waitUntilExit()
        return ProcessResult(status: status, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a Python script given as text.
    public static func python(_ script: String, _ arguments: [String] = [], stdin: String? = nil) throws -> ProcessResult {
        try run(["python3", "-c", script] + arguments, stdin: stdin)
    }
}

/// Runs blocking work off Swift's cooperative threads, in the calling task (on a task executor
/// of its own threads), so that the task's locals stay: an `#expect` inside is recorded against
/// the test that runs it. (Run on a bare dispatch queue instead, a failure there belongs to no
/// test, and Swift Testing reports it once for every test running at that moment.)
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(BlockingExecutor.shared) { try body() }
}

/// Runs each job on a thread of a concurrent dispatch queue (marked, so a test can tell).
public final class BlockingExecutor: TaskExecutor, @unchecked Sendable {
    public static let shared = BlockingExecutor()
    public static let marker = DispatchSpecificKey<Bool>()
    private let queue = DispatchQueue(label: "postie.tests.blocking", attributes: .concurrent)

    private init() {
        queue.setSpecific(key: Self.marker, value: true)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
