import Foundation
import TestSupport
import Testing

/// `postie sendmail` and `postie queue …` against a running `postie serve`.
@Suite(.serialized) struct QueueToolsTests {
    func postie(_ arguments: [String], stdin: String? = nil) throws -> ProcessResult {
        try Subprocess.run([TestPaths.postieBinary] + arguments, stdin: stdin)
    }

    @Test func sendmailQueuesLocalAndRemoteMail() async throws {
        let dir = try TestPaths.temporaryDirectory("sendmail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try FakeSMTPServer(mode: "accept")
        let server = try PostieProcess(directory: dir, extra: "", relay: "routes = { \"remote.test\" = \"127.0.0.1:\(fake.port)\" }")
        try server.start()
        let message = "To: bob@xyz.com, Someone <x@remote.test>\nBcc: carolyn@xyz.com\nSubject: from cron\n\n.leading dot\nbody\n.\nafter the dot\n"
        let result = try postie(["sendmail", "-t", "-f", "cron@xyz.com", "--config", server.configPath], stdin: message)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "success is silent: \(result.stderr)")
        #expect(try await eventually { server.delivered("bob").count == 1 && server.delivered("carolyn").count == 1 && fake.messages.count == 1 })
        let bob = server.delivered("bob").first ?? ""
        #expect(bob.hasPrefix("Return-Path: <cron@xyz.com>\n"))
        #expect(bob.contains("\nSubject: from cron\n\n.leading dot\nbody\n"))
        #expect(!bob.contains("after the dot"))
        #expect(!bob.contains("Bcc:"))
        #expect(bob.contains("\nDate: ") && bob.contains("\nMessage-ID: <") && bob.contains("\nFrom: <cron@xyz.com>\n"))
        #expect(fake.rawMessages.first?.contains("\r\n..leading dot\r\n") == true)

        // -i: a lone dot is message text; recipients on the command line.
        let plain = try postie(["sendmail", "-i", "--config", server.configPath, "bob@xyz.com"], stdin: "Subject: i\n\na\n.\nb\n")
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try await eventually { server.delivered("bob").count == 2 })
        #expect(server.delivered("bob").contains { $0.contains("\na\n.\nb\n") })

        // Installed (here: linked) as sendmail, the binary behaves as sendmail.
        let link = dir + "/sendmail"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TestPaths.postieBinary)
        let asSendmail = try Subprocess.run([link, "-oi", "-f", "cron@xyz.com", "--config", server.configPath, "carolyn@xyz.com"], stdin: "Subject: linked\n\nvia the link\n")
        #expect(asSendmail.status == 0, "\(asSendmail.stderr)")
        #expect(try await eventually { server.delivered("carolyn").contains { $0.contains("via the link") } })

        let unknown = try postie(["sendmail", "--config", server.configPath, "nobody@xyz.com"], stdin: "x\n")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("nobody@xyz.com: no such local user"))
        server.process.signal(SIGTERM)
        _ = server.process.waitForExit(timeout: 20)
    }

    @Test func sendmailWithoutAServerSaysSo() throws {
        let dir = try TestPaths.temporaryDirectory("sendmail-down")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try postie(["sendmail", "--data-dir", dir, "bob@localhost"], stdin: "Subject: x\n\nx\n")
        #expect(result.status == 75)
        #expect(result.stderr.contains("is postie running?"))
    }

    @Test func queueListShowFlushDeleteBounce() async throws {
        let dir = try TestPaths.temporaryDirectory("queue")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = try FakeSMTPServer(mode: "defer-always")
        let server = try PostieProcess(
            directory: dir, extra: "", relay: "routes = { \"remote.test\" = \"127.0.0.1:\(fake.port)\" }", queue: "retry_minimum = 3600")
        try server.start()
        let config = ["--config", server.configPath]
        for subject in ["one", "two"] {
            let r = try postie(["sendmail", "-f", "bob@xyz.com"] + config + ["x@remote.test"], stdin: "Subject: \(subject)\n\nbody\n")
            #expect(r.status == 0, "\(r.stderr)")
        }
        let listed = try await eventually {
            (try? postie(["queue", "list"] + config).stdout)?.components(separatedBy: "(deferred, 1 attempt)").count == 3
        }
        #expect(listed)
        let list = try postie(["queue", "list"] + config)
        #expect(list.status == 0)
        #expect(list.stdout.contains("from <bob@xyz.com>  next attempt: in "))
        #expect(list.stdout.contains("x@remote.test (deferred, 1 attempt): 451 4.3.0 try again later"))
        #expect(list.stdout.contains("2 messages in the queue."))
        // Queue ids follow the time their files were made, not always the order of arrival (the
        // first message after a start may make its own file after the batch made ahead): the
        // message "one" is found by its text.
        let spooled = server.spooled.sorted()
        try #require(spooled.count == 2)
        let texts = try spooled.map { try postie(["queue", "show", $0] + config).stdout }
        let oneAt = try #require(texts.firstIndex { $0.contains("Subject: one") })
        let ids = [spooled[oneAt], spooled[1 - oneAt]]
        let show = try postie(["queue", "show", ids[0]] + config)
        #expect(show.stdout.contains("Id: \(ids[0])"))
        #expect(show.stdout.contains("Subject: one"))

        // flush: tried again at once (the peer still defers: a second attempt is recorded).
        #expect(try postie(["queue", "flush", ids[1]] + config).stdout == "flushed 1 message(s)\n")
        #expect(try await eventually { (try? postie(["queue", "list"] + config).stdout.contains("(deferred, 2 attempts)")) == true })

        // delete: gone without a report; bounce: gone with a report to bob.
        #expect(try postie(["queue", "delete", ids[0]] + config).stdout == "deleted \(ids[0])\n")
        let bounce = try postie(["queue", "bounce", ids[1]] + config)
        #expect(bounce.stdout.hasPrefix("bounced \(ids[1]); report "))
        #expect(try await eventually { server.delivered("bob").count == 1 && server.spooled.isEmpty })
        #expect(server.delivered("bob").first?.contains("Action: failed") == true)
        #expect(try postie(["queue", "delete", "NOSUCH"] + config).status == 1)
        #expect(try postie(["queue", "list"] + config).stdout == "The queue is empty.\n")
        #expect(fake.messages.isEmpty)
        server.process.signal(SIGTERM)
        _ = server.process.waitForExit(timeout: 20)
    }

    /// From `postie dkim keygen` to a signature dkimpy accepts: the key made, the record it
    /// printed served by the tests' DNS server, and mail from `postie sendmail` signed with it.
    @Test func sendmailMailIsSignedWithAKeyFromKeygen() async throws {
        let dir = try TestPaths.temporaryDirectory("sendmail-dkim")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keygen = try await blocking { [self] in try postie(["dkim", "keygen", "--domain", "xyz.com", "--selector", "cron", "--algorithm", "ed25519", "--output", dir + "/cron.pem"]) }
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let record = keygen.stdout.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element).joined()
        let dns = try await blocking { try TestDNSServer(zone: ["cron._domainkey.xyz.com": ["TXT": [record]]]) }
        let server = try PostieProcess(directory: dir, extra: "\n[dkim.\"xyz.com\"]\nselectors = [\"cron\"]\nkey_dir = \"\(dir)\"\n")
        try await blocking { try server.start() }
        let result = try await blocking { [self] in
            try postie(
                ["sendmail", "-t", "-f", "cron@xyz.com", "--config", server.configPath],
                stdin: "From: cron@xyz.com\nTo: bob@xyz.com\nSubject: nightly\n\nall good\n")
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try await eventually { server.delivered("bob").count == 1 })
        let message = server.delivered("bob").first ?? ""
        #expect(message.contains("\nDKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\n\td=xyz.com; s=cron; t="))
        let verified = try await blocking {
            try Subprocess.run(["python3", TestPaths.packageRoot + "/Tests/Scripts/dkim_verify.py", "\(dns.port)"], stdin: message)
        }
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        server.process.signal(SIGTERM)
        _ = server.process.waitForExit(timeout: 20)
    }
}

/// sendmail as programs call it: its modes and the flags they pass.
@Suite(.serialized) struct SendmailModesTests {
    @Test func smtpOnStandardInputAndOutputQueueAndHelp() async throws {
        let dir = try TestPaths.temporaryDirectory("sendmail-modes")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try PostieProcess(directory: dir)
        try server.start()
        let postie = TestPaths.postieBinary

        // -bs: a whole SMTP dialogue on a pipe; each recipient answered on its own.
        let dialogue = [
            "HELO script.example", "MAIL FROM:<cron@xyz.com>", "RCPT TO:<bob@xyz.com>", "RCPT TO:<nobody@xyz.com>",
            "RCPT TO:carolyn@xyz.com", "DATA", "Subject: over a pipe", "", "..dot", "hello", ".", "QUIT",
        ].map { $0 + "\r\n" }.joined()
        let bs = try Subprocess.run([postie, "sendmail", "-bs", "--config", server.configPath], stdin: dialogue)
        #expect(bs.status == 0, "\(bs.stderr)")
        let codes = bs.stdout.split(separator: "\r\n").map { String($0.prefix(3)) }
        #expect(codes == ["220", "250", "250", "250", "550", "250", "354", "250", "221"], "\(bs.stdout)")
        #expect(bs.stdout.contains("550 5.1.1 <nobody@xyz.com>: nobody@xyz.com: no such local user"), "\(bs.stdout)")
        #expect(try await eventually { server.delivered("bob").count == 1 && server.delivered("carolyn").count == 1 })
        let bob = server.delivered("bob").first ?? ""
        #expect(bob.hasPrefix("Return-Path: <cron@xyz.com>\n"))
        #expect(bob.contains("\nSubject: over a pipe\n\n.dot\nhello\n"))

        // -bp lists the queue as mailq does; -q flushes it; both silent on stderr.
        let bp = try Subprocess.run([postie, "sendmail", "-bp", "--config", server.configPath])
        #expect(bp.status == 0, "\(bp.stderr)")
        #expect(bp.stdout == "The queue is empty.\n")
        let q = try Subprocess.run([postie, "sendmail", "-q", "--config", server.configPath])
        #expect(q.status == 0 && q.stdout.isEmpty && q.stderr.isEmpty, "\(q.stdout)\(q.stderr)")

        // Flags programs pass and sendmail ignores; success is silent (cron mails any output).
        let flags = try Subprocess.run(
            [postie, "sendmail", "-oi", "-odi", "-oem", "-v", "-F", "Cron Daemon", "-f", "cron@xyz.com", "--config", server.configPath, "bob@xyz.com"],
            stdin: "Subject: flags\n\nbody\n")
        #expect(flags.status == 0, "\(flags.stderr)")
        #expect(flags.stdout.isEmpty && flags.stderr.isEmpty)
        #expect(try await eventually { server.delivered("bob").contains { $0.contains("From: Cron Daemon <cron@xyz.com>") } })

        let help = try Subprocess.run([postie, "sendmail", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("-bs") && help.stdout.contains("-bp"), "\(help.stdout)")
        let bi = try Subprocess.run([postie, "sendmail", "-bi"])
        #expect(bi.status == 0)

        server.process.signal(SIGTERM)
        _ = server.process.waitForExit(timeout: 20)
    }
}

/// The control socket as an attacker with access to it (any local user the socket admits) might
/// use it: a huge submission, a silent connection, a submission cut off.
@Suite(.serialized) struct ControlSocketLimitsTests {
    /// A client of the control protocol written out in Python: the request line, then `size`
    /// octets of message (`stop` of them only, then silence, when given).
    static let client = """
        import json, socket, sys, time
        path, size = sys.argv[1], int(sys.argv[2])
        stop = int(sys.argv[3]) if len(sys.argv) > 3 else size
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall((json.dumps({'command': 'submit', 'sender': 'cron@xyz.com', 'recipients': ['bob@xyz.com'], 'length': size, 'submitter': '0'}) + '\\n').encode())
        line = ('x' * 76 + '\\r\\n').encode()
        chunk = b'Subject: big\\r\\n\\r\\n' + line * ((1 << 20) // len(line))
        sent = 0
        while sent < stop:
            part = chunk[: min(len(chunk), stop - sent)]
            s.sendall(part)
            sent += len(part)
        started = time.monotonic()
        answer = s.makefile().readline().strip()
        print(answer)
        print('waited %.1f' % (time.monotonic() - started))
        """

    @Test func aLargeSubmissionStreamsToTheSpool() async throws {
        let dir = try TestPaths.temporaryDirectory("control-large")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postie = try PostieProcess(directory: dir)
        try postie.start()
        let socket = dir + "/data/control.sock"
        let warm = try await blocking { try Subprocess.python(Self.client, [socket, "1000"]) }
        #expect(warm.stdout.hasPrefix("{\"id\":") || warm.stdout.contains("\"ok\":true"), "\(warm.stdout)\(warm.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        let before = try #require(postie.process.memory())
        let big = try await blocking { try Subprocess.python(Self.client, [socket, "\(40 << 20)"]) }
        #expect(big.stdout.contains("\"ok\":true"), "\(big.stdout)\(big.stderr)")
        let after = try #require(postie.process.memory())
        let growthMiB = Double(after.peak - before.peak) / 1024
        #expect(growthMiB < 16, "peak RSS grew by \(growthMiB) MiB for a 40 MiB submission")
        #expect(try await eventually(30) { postie.delivered("bob").count == 2 })
        postie.process.signal(SIGTERM)
        _ = postie.process.waitForExit(timeout: 20)
    }

    @Test func aSilentOrCutOffConnectionIsClosedAndNothingQueued() async throws {
        let dir = try TestPaths.temporaryDirectory("control-idle")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postie = try PostieProcess(directory: dir, extra: "command_timeout = 1")
        try postie.start()
        let socket = dir + "/data/control.sock"
        // Half a message, then silence: answered "timed out" after about a second, nothing kept.
        let cut = try await blocking { try Subprocess.python(Self.client, [socket, "100000", "5000"]) }
        let lines = cut.stdout.split(separator: "\n")
        #expect(lines.first == #"{"error":"timed out","ok":false}"# || lines.first?.contains("timed out") == true, "\(cut.stdout)\(cut.stderr)")
        #expect(Double(lines.last?.split(separator: " ").last ?? "") ?? 99 < 5)
        // A silent connection: the same.
        let silent = try await blocking {
            try Subprocess.python(
                "import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.connect(sys.argv[1])\nprint(s.makefile().readline().strip())",
                [socket])
        }
        #expect(silent.stdout.contains("timed out"), "\(silent.stdout)\(silent.stderr)")
        #expect(postie.spooled.isEmpty)
        let written = { ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/data/spool/msg")) ?? []).filter {
            ((try? FileManager.default.attributesOfItem(atPath: dir + "/data/spool/msg/" + $0)[.size] as? Int) ?? 0) > 0
        } }
        // The cut-off message's file goes once its last write has finished.
        #expect(try await eventually { written().isEmpty }, "the cut-off message was dropped: \(written())")
        #expect(postie.delivered("bob").isEmpty)
        postie.process.signal(SIGTERM)
        _ = postie.process.waitForExit(timeout: 20)
    }
}
