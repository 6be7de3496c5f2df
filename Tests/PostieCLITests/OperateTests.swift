import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The binary as an operator runs it next to a live server: a second `serve`, `mailq` through a
/// link, `--version`, `newaliases`.
@Suite(.serialized) struct OperateTests {
    /// Server A takes mail without pause while a second `serve` on the same configuration and a
    /// `mailq` (a link to the binary) come and go: both leave A alone, and every message A
    /// acknowledged is delivered.
    @Test func aSecondServeAndMailqLeaveARunningServerAlone() async throws {
        // Every step blocks (processes, waits): off Swift's cooperative threads, which the
        // other tests share.
        try await blocking { try Self.secondServeAndMailq() }
    }

    static func secondServeAndMailq() throws {
        let dir = try TestPaths.temporaryDirectory("second-serve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A low per-connection limit: the client reaches it on every machine and reconnects, so
        // A's refusals and new connections are part of the load a second serve must not disturb.
        let a = try PostieProcess(directory: dir, extra: "max_messages_per_connection = 75")
        try a.start()
        let script = """
            import smtplib, sys, time
            port = int(sys.argv[1]); deadline = time.time() + 20
            s = smtplib.SMTP('127.0.0.1', port, timeout=30)
            n = 0
            while time.time() < deadline and n < 4000:
                try:
                    s.sendmail('a@client.example', ['carolyn@xyz.com'], ('Subject: steady %d\\r\\n\\r\\nbody\\r\\n' % n).encode())
                except smtplib.SMTPSenderRefused as e:
                    # max_messages_per_connection reached (421): reconnect, as every real
                    # client does, and send the same message again.
                    if e.smtp_code != 421: raise
                    s.close(); s = smtplib.SMTP('127.0.0.1', port, timeout=30)
                    print('RECONNECT', flush=True)
                    continue
                print('ACK', n, flush=True)
                n += 1
                if n >= 200 and open(sys.argv[2]).read() == 'stop': break
            s.quit()
            """
        let stopFile = dir + "/stop"
        try "".write(toFile: stopFile, atomically: true, encoding: .utf8)
        let client = try RunningProcess(["/usr/bin/env", "python3", "-c", script, "\(a.port)", stopFile])
        #expect(client.waitForCount(20, timeout: 30) { $0.hasPrefix("ACK ") })

        let second = try Subprocess.run([TestPaths.postieBinary, "serve", "--config", a.configPath])
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("another postie (pid \(a.process.pid)) is using \(dir)/data"), "\(second.stderr)")

        let mailq = dir + "/mailq"
        try FileManager.default.createSymbolicLink(atPath: mailq, withDestinationPath: TestPaths.postieBinary)
        let listed = try Subprocess.run([mailq, "--config", a.configPath])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("in the queue") || listed.stdout.contains("The queue is empty."), "\(listed.stdout)")

        let queue = try Subprocess.run([TestPaths.postieBinary, "queue", "list", "--config", a.configPath])
        #expect(queue.status == 0, "postie queue list still reaches A: \(queue.stderr)")
        // Without --config, from any folder: $POSTIE_CONFIG names the file, as for every command.
        let fromEnvironment = try Subprocess.run(
            ["sh", "-c", "cd / && exec \"$0\" queue list", TestPaths.postieBinary], environment: ["POSTIE_CONFIG": a.configPath])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        #expect(fromEnvironment.stdout.hasSuffix("in the queue.\n") || fromEnvironment.stdout == "The queue is empty.\n")

        try "stop".write(toFile: stopFile, atomically: true, encoding: .utf8)
        #expect(client.waitForExit(timeout: 60) == 0, "\(client.stderrLines)")
        let acknowledged = Set(client.stdoutLines.filter { $0.hasPrefix("ACK ") }.compactMap { Int($0.dropFirst(4)) })
        #expect(acknowledged.count >= 200)
        #expect(client.stdoutLines.contains("RECONNECT"))
        a.process.signal(SIGTERM)
        #expect(a.process.waitForExit(timeout: 20) == 0)

        // After a restart nothing is quarantined and every acknowledged message is in the Maildir.
        try a.start()
        var subjects = Set<Int>()
        for _ in 0..<200 {
            subjects = Set(a.delivered("carolyn").compactMap { m in
                m.split(separator: "\n").first { $0.hasPrefix("Subject: steady ") }.flatMap { Int($0.dropFirst("Subject: steady ".count)) }
            })
            if acknowledged.isSubset(of: subjects) { break }
            usleep(50_000)
        }
        #expect(acknowledged.subtracting(subjects).isEmpty, "lost: \(acknowledged.subtracting(subjects).sorted().prefix(10))")
        let quarantined = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/data/spool/quarantine")) ?? []
        #expect(quarantined.isEmpty, "\(quarantined)")
        a.process.signal(SIGTERM)
        _ = a.process.waitForExit(timeout: 20)
    }

    @Test func versionIsPrinted() throws {
        let result = try Subprocess.run([TestPaths.postieBinary, "--version"])
        #expect(result.status == 0)
        #expect(result.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, "\(result.stdout)")
    }

    @Test func newaliasesSaysWhereAliasesLive() throws {
        let dir = try TestPaths.temporaryDirectory("newaliases")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let link = dir + "/newaliases"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: TestPaths.postieBinary)
        // Run from `dir`, where a server started on the defaults would make `postie-data`.
        let result = try Subprocess.run(["sh", "-c", "cd \"$1\" && exec ./newaliases", "sh", dir])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("configuration file"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/postie-data"), "no server was started")
    }
}

/// Signals and systemd: HUP reloads, the others never end the process, and a `Type=notify` unit
/// hears READY, RELOADING and STOPPING.
@Suite(.serialized) struct SignalTests {
    @Test func hupReloadsOtherSignalsAreIgnoredAndSystemdIsTold() async throws {
        let dir = try TestPaths.temporaryDirectory("signals")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let notify = try NotifySocket(directory: dir)
        let postie = try PostieProcess(directory: dir)
        try postie.start(environment: ["NOTIFY_SOCKET": notify.path])
        #expect(notify.waitFor("READY=1") != nil)

        // dave is unknown; the file gains him; SIGHUP.
        func rcpt(_ user: String) throws -> String {
            let c = try LineClient(port: postie.port)
            _ = c.readReply()
            c.send("HELO c\r\nMAIL FROM:<a@abcd.com>\r\nRCPT TO:<\(user)@xyz.com>\r\nQUIT\r\n")
            return (0..<3).flatMap { _ in c.readReply() }.last ?? ""
        }
        #expect(try rcpt("dave").hasPrefix("550 5.1.1"))
        let config = try String(contentsOfFile: postie.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "users = [\"carolyn\", \"bob\"]", with: "users = [\"carolyn\", \"bob\", \"dave\"]")
            .write(toFile: postie.configPath, atomically: true, encoding: .utf8)
        postie.process.signal(SIGHUP)
        let reload = notify.waitFor("READY=1")
        #expect(reload?.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reload ?? [])")
        #expect(postie.process.waitForLine(inStderr: true) { $0.contains("configuration reloaded") } != nil)
        #expect(try rcpt("dave") == "250 2.1.5 Ok")

        // Signals whose default action would end the process: logged, nothing else.
        for (signal, name) in [(SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"), (SIGALRM, "SIGALRM")] {
            postie.process.signal(signal)
            #expect(postie.process.waitForLine(inStderr: true) { $0.contains("signal ignored") && $0.contains("signal=\(name)") } != nil)
        }
        #expect(try rcpt("carolyn") == "250 2.1.5 Ok", "still serving")

        // `postie reload`: exit 0 when taken, 1 with the error when refused.
        let ok = try Subprocess.run([TestPaths.postieBinary, "reload", "--config", postie.configPath])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == "reloaded: nothing changed\n")
        let misspelt = config.replacingOccurrences(of: "max_connections_per_client = 1000", with: "max_connections_per_clent = 1000")
        try misspelt.write(toFile: postie.configPath, atomically: true, encoding: .utf8)
        let line = try #require(misspelt.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("_clent") }) + 1
        let refused = try Subprocess.run([TestPaths.postieBinary, "reload", "--data-dir", dir + "/data"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\(postie.configPath):\(line): smtp.max_connections_per_clent: unknown key"), "\(refused.stderr)")
        #expect(try rcpt("dave") == "250 2.1.5 Ok", "the running configuration stays")

        postie.process.signal(SIGTERM)
        #expect(notify.waitFor("STOPPING=1") != nil)
        #expect(postie.process.waitForExit(timeout: 20) == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/data/control.sock"))
    }
}

@Suite struct ServiceUnitTests {
    /// `dist/postie.service` passes systemd's own check, pointed at the binary built here.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func unitPassesSystemdAnalyzeVerify() throws {
        let dir = try TestPaths.temporaryDirectory("unit")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unit = try String(contentsOfFile: TestPaths.packageRoot + "/dist/postie.service", encoding: .utf8)
        #expect(unit.contains("Type=notify\n"))
        #expect(unit.contains("ExecReload=/usr/local/bin/postie reload\n"))
        #expect(unit.contains("RestartPreventExitStatus=78\n"))
        #expect(unit.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE\n"))
        try unit.replacingOccurrences(of: "/usr/local/bin/postie", with: TestPaths.postieBinary)
            .write(toFile: dir + "/postie.service", atomically: true, encoding: .utf8)
        for socket in ["postie.socket", "postie-submission.socket"] {
            try FileManager.default.copyItem(atPath: TestPaths.packageRoot + "/dist/" + socket, toPath: dir + "/" + socket)
        }
        let verify = try Subprocess.run([
            "systemd-analyze", "verify", "--man=no", dir + "/postie.service", dir + "/postie.socket", dir + "/postie-submission.socket",
        ])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stderr.isEmpty, "\(verify.stderr)")
    }
}

/// systemd's socket activation, with systemd's own tool holding the port.
@Suite(.serialized) struct SocketActivationTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"), "needs systemd-socket-activate"))
    func servesTheSocketSystemdPasses() async throws {
        let dir = try TestPaths.temporaryDirectory("activation")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try TestPaths.freePort()
        // The configured listener is not used when a socket is passed.
        let postie = try PostieProcess(directory: dir)
        let process = try RunningProcess([
            "/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:\(port)", "--fdname=smtp", TestPaths.postieBinary, "serve", "--config",
            postie.configPath,
        ])
        #expect(process.waitForLine(inStderr: true) { $0.hasPrefix("Listening on 127.0.0.1:\(port)") } != nil, "\(process.stderrLines)")
        // systemd-socket-activate starts the service at the first connection, which waits in the
        // socket's backlog meanwhile (as with systemd itself).
        let problems = try await blocking { try LineClient(port: port, timeout: 30).run(Transcript.named("figure1.smtp")) }
        #expect(problems.isEmpty, "\(problems)")
        #expect(process.waitForLine(inStderr: true) { $0.contains("listening") && $0.contains("127.0.0.1:\(port)") } != nil, "\(process.stderrLines)")
        #expect(process.stderrLines.filter { $0.contains("[SMTPNIO] listening") }.count == 1, "only the passed socket: \(process.stderrLines)")
        #expect(try await eventually { postie.delivered("carolyn").count == 1 })
        process.signal(SIGTERM)
        #expect(process.waitForExit(timeout: 20) == 0)
    }
}
