import Foundation
import NIOConcurrencyHelpers

/// A program running beside the test, whose output lines are collected as they come.
public final class RunningProcess: @unchecked Sendable {
    public let process: SpawnedProcess
    private let lines = NIOLockedValueBox<(out: [String], err: [String])>(([], []))

    /// `keepStdinOpen`: the child's standard input is a pipe that stays open as long as this
    /// object (so a helper that exits at end of input lives as long as the test); otherwise
    /// /dev/null.
    public init(_ arguments: [String], environment: [String: String]? = nil, keepStdinOpen: Bool = false) throws {
        process = try SpawnedProcess(arguments, environment: environment, pipeStdin: keepStdinOpen)
        for (fd, isOut) in [(process.stdout, true), (process.stderr, false)] {
            let box = lines
            let child = process
            Thread.detachNewThread {
                var pending: [UInt8] = []
                SpawnedProcess.readChunks(fd) { chunk in
                    pending += chunk
                    while let nl = pending.firstIndex(of: 10) {
                        let line = String(decoding: pending[..<nl], as: UTF8.self)
                        pending.removeSubrange(...nl)
                        box.withLockedValue { isOut ? $0.out.append(line) : $0.err.append(line) }
                    }
                }
                // The descriptor stays open (the child object alive) until its end of file.
                withExtendedLifetime(child) {}
            }
        }
    }

    public var pid: Int32 { process.pid }
    public var stdoutLines: [String] { lines.withLockedValue { $0.out } }
    public var stderrLines: [String] { lines.withLockedValue { $0.err } }

    /// Waits (bounded) until a line matches; returns it.
    public func waitForLine(inStderr: Bool = false, timeout: TimeInterval = 30, where matches: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = (inStderr ? stderrLines : stdoutLines).first(where: matches) { return line }
            if !process.isRunning, let line = (inStderr ? stderrLines : stdoutLines).first(where: matches) { return line }
            if !process.isRunning { return nil }
            usleep(20_000)
        }
        return nil
    }

    /// Waits (bounded) until at least `count` stdout lines match.
    public func waitForCount(_ count: Int, timeout: TimeInterval = 30, where matches: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdoutLines.filter(matches).count >= count { return true }
            if !process.isRunning { return stdoutLines.filter(matches).count >= count }
            usleep(5_000)
        }
        return false
    }

    public func signal(_ sig: Int32) { kill(process.pid, sig) }

    /// Waits (bounded) for the process to end; returns its status, or nil if it did not end.
    public func waitForExit(timeout: TimeInterval = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.terminationStatus
    }

    /// Resident memory and its peak, in KiB, from /proc.
    public func memory() -> (rss: Int, peak: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (rss, peak)
    }
}
