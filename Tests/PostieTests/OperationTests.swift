import Foundation
import Logging
import NIOCore
import Postie
import SMTPNIO
import Storage
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What an operator meets outside the happy path: a second server on the same data, a port in
/// use, a client's half-close, a full disk, the leftovers of a crash.
@Suite struct OperationTests {
    /// The made-ahead message files a server keeps in its spool (they are what a second server's
    /// recovery used to remove under the first).
    static func madeAhead(_ dataDirectory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/spool/msg")) ?? [])
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(25)) }
    }

    @Test func aSecondServerOnTheSameDataDirectoryStopsAndChangesNothing() async throws {
        try await withServer { a in
            try await Self.waitUntil { Self.madeAhead(a.dataDirectory).count >= 64 }
            let before = Self.madeAhead(a.dataDirectory)
            #expect(before.count >= 64)
            var config = a.server.configuration
            config.smtp.listen = [.init(host: "127.0.0.1", port: 0)]
            let b = PostieServer(configuration: config, logger: Logger(label: "b"))
            await #expect {
                try await b.start()
            } throws: { error in
                guard let held = error as? DataDirectoryLock.Held else { return false }
                return held.pid == getpid() && held.description == "another postie (pid \(getpid())) is using \(a.dataDirectory)"
            }
            #expect(b.addresses.isEmpty, "B bound nothing")
            #expect(Self.madeAhead(a.dataDirectory) == before, "B removed none of A's files")
            #expect(FileManager.default.fileExists(atPath: a.dataDirectory + "/control.sock"))
            let problems = try await blocking { try a.client().run(Transcript.named("figure1.smtp")) }
            #expect(problems.isEmpty)
            #expect(await a.messages("carolyn").count == 1)
        }
    }

    @Test func aPortInUseIsNamedAndNoSpoolWorkIsDone() async throws {
        try await withServer { a in
            let other = try TestPaths.temporaryDirectory("port-in-use")
            defer { try? FileManager.default.removeItem(atPath: other) }
            var config = TestServer.configuration(dataDirectory: other)
            config.smtp.listen = [.init(host: "127.0.0.1", port: a.port)]
            let b = PostieServer(configuration: config, logger: Logger(label: "b"))
            await #expect {
                try await b.start()
            } throws: { error in
                "\(error)" == "cannot listen on 127.0.0.1:\(a.port): Address already in use"
            }
            #expect(Self.madeAhead(other).isEmpty, "no spool files were made")
            #expect(!FileManager.default.fileExists(atPath: other + "/control.sock"))
            // The lock went with the failed start: a server can start there now.
            config.smtp.listen = [.init(host: "127.0.0.1", port: 0)]
            let c = PostieServer(configuration: config, logger: Logger(label: "c"))
            try await c.start()
            await c.stop()
        }
    }

    /// `nc -N` and scripts: the whole dialogue in one write, then `shutdown(SHUT_WR)`. Every reply
    /// must come back, or the client counts the message as failed and sends it again.
    @Test func aClientThatHalfClosesGetsEveryReply() async throws {
        try await withServer { server in
            let transcripts = try await blocking { () -> [[String]] in
                var all: [[String]] = []
                for n in 0..<10 {
                    let c = try server.client()
                    c.send(
                        "EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\nSubject: half-close \(n)\r\n\r\nhello\r\n.\r\nQUIT\r\n"
                    )
                    c.shutdownWrite()
                    var lines: [String] = []
                    while let line = c.readLine() { lines.append(line) }
                    all.append(lines)
                }
                return all
            }
            for lines in transcripts {
                let finals = lines.filter { $0.count >= 4 && Array($0)[3] == " " }.map { String($0.prefix(3)) }
                #expect(finals == ["220", "250", "250", "250", "354", "250", "221"], "\(lines)")
            }
            // The last hand-off to the queue may follow the client's close by a moment.
            #expect(try await eventually { await server.messages("carolyn").count == 10 })
            #expect(await server.messages("carolyn").count == 10, "each message once, no duplicate")
        }
    }

    @Test func pipelinedCommandsBeforeAHalfCloseAreAnswered() async throws {
        try await withServer { server in
            let lines = try await blocking { () -> [String] in
                let c = try server.client()
                c.send("EHLO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nRCPT TO:<nobody@xyz.com>\r\nRSET\r\n")
                c.shutdownWrite()
                var lines: [String] = []
                while let line = c.readLine() { lines.append(line) }
                return lines
            }
            let finals = lines.filter { $0.count >= 4 && Array($0)[3] == " " }.map { String($0.prefix(3)) }
            #expect(finals == ["220", "250", "250", "250", "550", "250"], "\(lines)")
        }
    }

    /// What a crash left in the Maildirs' `tmp/` is Postie's own dead write, once it holds the
    /// lock; another program's files there are not touched.
    @Test func deadMaildirWritesAreRemovedAtStart() async throws {
        let data = try TestPaths.temporaryDirectory("dead-writes")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let tmp = data + "/mail/xyz.com/carolyn/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let ours = ["1765000000.M123456P999999Q1.mx.test", "1765000001.M5P42Q17.other-name"]
        let theirs = ["1765000000.M123456P4242.dovecot-host", "1765000000.M1P2V3I4.imap", "notes.txt"]
        for name in ours + theirs { try "x".write(toFile: tmp + "/" + name, atomically: false, encoding: .utf8) }
        let log = CapturedLog()
        try await withServer(logger: log.logger, { $0.dataDirectory = data }) { _ in
            let left = Set(try FileManager.default.contentsOfDirectory(atPath: tmp))
            #expect(left == Set(theirs))
            #expect(log.text.contains("removed unfinished Maildir writes of an earlier run count=2"))
        }
    }

    /// A full file system is a temporary condition: `452 4.3.1`, never counted toward the client's
    /// error limit, and the log names the file system. Needs root for a small tmpfs of its own.
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs")) func aFullDiskSays452AndDoesNotCutTheClientOff() async throws {
        let data = try TestPaths.temporaryDirectory("full-disk")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let mount = try Subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", data])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? Subprocess.run(["umount", "-l", data]) }
        let log = CapturedLog()
        try await withServer(logger: log.logger, { $0.dataDirectory = data }) { server in
            let replies = try await blocking { () -> [String] in
                let c = try server.client()
                _ = c.readReply()
                c.send("EHLO c\r\n")
                _ = c.readReply()
                let body = String(repeating: String(repeating: "x", count: 76) + "\r\n", count: 4000)  // ~300 KiB
                var finals: [String] = []
                // More attempts than the error limit (10): none may cost the client its connection.
                for n in 0..<14 {
                    c.send("MAIL FROM:<a@abcd.com>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\n")
                    for _ in 0..<3 { _ = c.readReply() }
                    c.send("Subject: \(n)\r\n\r\n" + body + ".\r\n")
                    finals.append(c.readReply().last ?? "<closed>")
                }
                c.send("QUIT\r\n")
                finals.append(c.readReply().last ?? "<closed>")
                return finals
            }
            #expect(replies.contains { $0.hasPrefix("452 4.3.1 ") }, "\(replies)")
            #expect(!replies.contains { $0.hasPrefix("451") || $0.hasPrefix("421") }, "\(replies)")
            #expect(replies.last?.hasPrefix("221") == true)
            #expect(log.text.contains("cannot store message: file system full"))
            #expect(log.text.contains("file_system=\(data)"))
        }
    }

    /// The spool's own stock (files made ahead, recycled ones) is not mail: a restart removes it
    /// without a word; only a write that was cut short is worth a line.
    @Test func aRestartLogsOnlyWritesThatWereCutShort() async throws {
        let data = try TestPaths.temporaryDirectory("restart-log")
        defer { try? FileManager.default.removeItem(atPath: data) }
        // TestServer.stop() would remove the folder: the servers are stopped by hand.
        let first = try await TestServer { $0.dataDirectory = data }
        try await Self.waitUntil { Self.madeAhead(first.dataDirectory).count >= 64 }
        let problems = try await blocking { try first.client().run(Transcript.named("figure1.smtp")) }
        #expect(problems.isEmpty)
        _ = await first.messages("carolyn")
        await first.server.stop()
        // What a kill -9 leaves: empty files made ahead (a graceful stop removes them itself).
        for n in 0..<20 { _ = FileManager.default.createFile(atPath: data + "/spool/msg/00000000000AHEAD\(n)", contents: nil) }
        try "Subject: cut short\r\n\r\nhalf".write(toFile: data + "/spool/msg/0000000000000CUT", atomically: false, encoding: .utf8)
        let log = CapturedLog()
        let second = try await TestServer(logger: log.logger) { $0.dataDirectory = data }
        let lines = log.text.split(separator: "\n").filter { $0.contains("never acknowledged") || $0.contains("incomplete") }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains("queue_id=0000000000000CUT") == true)
        #expect(!Self.madeAhead(data).contains { $0.contains("AHEAD") || $0.contains("CUT") }, "all removed")
        await second.server.stop()
    }

    @Test func aHostnameThatIsNotFullyQualifiedIsWarnedAbout() async throws {
        let log = CapturedLog()
        try await withServer(logger: log.logger, { $0.hostname = "mailhost" }) { _ in
            #expect(log.text.contains("warning hostname is not a fully qualified domain name"))
        }
        let quiet = CapturedLog()
        try await withServer(logger: quiet.logger) { _ in
            #expect(!quiet.text.contains("fully qualified"))
        }
    }
}

@Suite struct DataDirectoryModeTests {
    @Test func aDataDirectoryOpenToAllIsClosedToOthers() async throws {
        let data = try TestPaths.temporaryDirectory("open-data")
        defer { try? FileManager.default.removeItem(atPath: data) }
        chmod(data, 0o755)
        let log = CapturedLog()
        try await withServer(logger: log.logger, { $0.dataDirectory = data }) { _ in
            let mode = (try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o750, "\(String(mode, radix: 8))")
            #expect(log.text.contains("the data directory was open to all users: others' access removed"))
            #expect(log.text.contains("mode=755"))
        }
    }
}
