import Foundation
import TestSupport
import Testing

@Suite struct CheckConfigTests {
    @Test func printsTheEffectiveConfiguration() throws {
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "hostname = \"mx.example.com\"\n[domains.\"example.com\"]\nusers = [\"alice\"]\n".write(
            toFile: dir + "/ok.toml", atomically: true, encoding: .utf8)
        let result = try Subprocess.run([TestPaths.postieBinary, "check-config", dir + "/ok.toml"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("hostname = \"mx.example.com\""))
        #expect(result.stdout.contains("listen = [\"127.0.0.1:2525\"]"))
        #expect(result.stdout.contains("[domains.\"example.com\"]\nusers = [\"alice\"]"))
    }

    @Test func badFileNamesFileLineAndKey() throws {
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bad.toml"
        try "hostname = \"mx.example.com\"\n\n[smtp]\nmax_recipients = \"lots\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Subprocess.run([TestPaths.postieBinary, "check-config", file])
        #expect(result.status == 78)
        #expect(result.stderr == "postie: \(file):4: smtp.max_recipients: must be a whole number\n")
        #expect(result.stdout.isEmpty)

        let serve = try Subprocess.run([TestPaths.postieBinary, "serve", "--config", file])
        #expect(serve.status == 78)
        #expect(serve.stderr.contains("\(file):4: smtp.max_recipients"))
    }
}

@Suite(.serialized) struct ServeTests {
    @Test func sigtermSays421AndExits() async throws {
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postie = try PostieProcess(directory: dir)
        try postie.start()
        let lines = try await blocking { () -> [String] in
            let c = try LineClient(port: postie.port)
            var lines = c.readReply()
            c.send("EHLO c\r\n")
            _ = c.readReply()
            postie.process.signal(SIGTERM)
            lines += c.readReply()
            lines.append(c.waitForClose() ? "<closed>" : "<open>")
            return lines
        }
        #expect(lines.first?.hasPrefix("220 mx.test ESMTP") == true)
        #expect(lines.dropFirst().first?.hasPrefix("421 4.3.2") == true)
        #expect(lines.last == "<closed>")
        #expect(postie.process.waitForExit(timeout: 20) == 0)
    }

    /// Acknowledged means durable: every message that got its 250 survives `kill -9` and is in
    /// its Maildir after a restart, and no delivered message is partial.
    @Test func kill9AfterABurstLosesNoAcknowledgedMessage() async throws {
        let dir = try TestPaths.temporaryDirectory("kill9")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postie = try PostieProcess(directory: dir)
        try postie.start()
        let script = """
            import smtplib, sys, threading
            port = int(sys.argv[1])
            lock = threading.Lock()
            def body(n): return ('Subject: burst %d\\r\\n\\r\\n' % n) + ('line %d of message %d\\r\\n' * 1) * 0 + ''.join('line %d of message %d\\r\\n' % (i, n) for i in range(200))
            def worker(w):
                try:
                    s = smtplib.SMTP('127.0.0.1', port, timeout=30)
                    for k in range(1000):
                        n = w * 1000 + k
                        s.sendmail('a@client.example', ['carolyn@xyz.com'], body(n).encode())
                        with lock:
                            print('ACK', n, flush=True)
                except Exception as e:
                    with lock:
                        print('STOP', w, repr(e), flush=True)
            ts = [threading.Thread(target=worker, args=(w,)) for w in range(10)]
            for t in ts: t.start()
            for t in ts: t.join()
            """
        let client = try RunningProcess(["/usr/bin/env", "python3", "-c", script, "\(postie.port)"])
        #expect(client.waitForCount(300, timeout: 60) { $0.hasPrefix("ACK ") })
        postie.process.signal(SIGKILL)
        _ = postie.process.waitForExit(timeout: 10)
        #expect(client.waitForExit(timeout: 60) != nil)
        let acknowledged = Set(client.stdoutLines.filter { $0.hasPrefix("ACK ") }.compactMap { Int($0.dropFirst(4)) })
        #expect(acknowledged.count >= 300)

        try postie.start()
        // Wait (bounded) until every acknowledged message is delivered.
        var subjects = Set<Int>()
        for _ in 0..<300 {
            let messages = postie.delivered("carolyn")
            subjects = Set(messages.compactMap { m in
                m.split(separator: "\n").first { $0.hasPrefix("Subject: burst ") }.flatMap { Int($0.dropFirst("Subject: burst ".count)) }
            })
            if acknowledged.isSubset(of: subjects) && postie.spooled.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(acknowledged.subtracting(subjects).isEmpty, "lost: \(acknowledged.subtracting(subjects).sorted().prefix(10))")
        for message in postie.delivered("carolyn") {
            guard let line = message.split(separator: "\n").first(where: { $0.hasPrefix("Subject: burst ") }),
                let n = Int(line.dropFirst("Subject: burst ".count))
            else {
                Issue.record("unexpected message")
                continue
            }
            let expected = "Subject: burst \(n)\n\n" + (0..<200).map { "line \($0) of message \(n)\n" }.joined()
            #expect(body(message) == expected, "message \(n) is not whole")
        }
        postie.process.signal(SIGTERM)
        _ = postie.process.waitForExit(timeout: 20)
    }

    /// A 50 MiB message streams to the spool: the server's memory does not grow by its size.
    @Test func largeMessageDoesNotSitInMemory() async throws {
        let dir = try TestPaths.temporaryDirectory("large")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let postie = try PostieProcess(directory: dir, extra: "max_message_size = 104857600")
        try postie.start()
        let send = """
            import smtplib, sys
            s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=120)
            s.ehlo('c')
            line = ('x' * 76 + '\\r\\n').encode()
            size = int(sys.argv[2])
            s.sendmail('a@client.example', ['bob@xyz.com'], b'Subject: big\\r\\n\\r\\n' + line * (size // len(line)))
            s.quit()
            print('sent')
            """
        // A small message first, so the baseline includes everything a delivery touches.
        let warm = try await blocking { try Subprocess.python(send, ["\(postie.port)", "1000"]) }
        #expect(warm.stdout == "sent\n", "\(warm.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        let before = try #require(postie.process.memory())
        let big = try await blocking { try Subprocess.python(send, ["\(postie.port)", "\(50 * 1024 * 1024)"]) }
        #expect(big.stdout == "sent\n", "\(big.stderr)")
        let after = try #require(postie.process.memory())
        let growthMiB = Double(after.peak - before.peak) / 1024
        #expect(growthMiB < 32, "peak RSS grew by \(growthMiB) MiB for a 50 MiB message")
        for _ in 0..<100 where postie.delivered("bob").count < 2 { try await Task.sleep(for: .milliseconds(100)) }
        let sizes = try FileManager.default.contentsOfDirectory(atPath: postie.mailbox + "/bob/new").map {
            try FileManager.default.attributesOfItem(atPath: postie.mailbox + "/bob/new/" + $0)[.size] as? Int ?? 0
        }
        #expect(sizes.contains { $0 > 49 * 1024 * 1024 })  // 78-octet lines become 77 with LF endings
        postie.process.signal(SIGTERM)
        _ = postie.process.waitForExit(timeout: 20)
    }
}

@Suite struct PasswdTests {
    @Test func printsAHashThatTheConfigurationTakes() throws {
        let result = try Subprocess.run([TestPaths.postieBinary, "passwd", "--cost", "4"], stdin: "hunter2\n")
        #expect(result.status == 0, "\(result.stderr)")
        let hash = result.stdout.trimmingCharacters(in: .newlines)
        #expect(hash.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        #expect(!result.stdout.contains("hunter2") && !result.stderr.contains("hunter2"))
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[auth.users.\"alice@example.com\"]\npassword = \"\(hash)\"\n".write(toFile: dir + "/a.toml", atomically: true, encoding: .utf8)
        let check = try Subprocess.run([TestPaths.postieBinary, "check-config", dir + "/a.toml"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("[auth.users.\"alice@example.com\"]\npassword = \"\(hash)\""))
    }

    @Test func emptyPasswordIsRefused() throws {
        let result = try Subprocess.run([TestPaths.postieBinary, "passwd"], stdin: "\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("the password is empty"))
        #expect(result.stdout.isEmpty)
    }
}

@Suite struct DKIMKeygenTests {
    /// (Each runs several processes: off the cooperative threads, which parallel tests share.)
    @Test func writesAPrivateKeyAndPrintsTheRecordThatCheckConfigThenTakes() async throws {
        try await blocking { try Self.keygenAndCheckConfig() }
    }

    static func keygenAndCheckConfig() throws {
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keygen = [TestPaths.postieBinary, "dkim", "keygen", "--data-dir", dir, "--domain", "Example.com", "--selector", "rsa2026"]
        let result = try Subprocess.run(keygen)
        #expect(result.status == 0, "\(result.stderr)")
        let file = dir + "/dkim/example.com/rsa2026.pem"
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        // The record, in zone-file strings of at most 255 octets.
        #expect(result.stdout.hasPrefix("rsa2026._domainkey.example.com. IN TXT (\n    \"v=DKIM1; k=rsa; p=MII"))
        let strings = result.stdout.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        #expect(strings.count == 2 && strings.allSatisfy { $0.utf8.count <= 255 })
        // Never over an existing key.
        let again = try Subprocess.run(keygen)
        #expect(again.status != 0)
        #expect(again.stderr.contains("cannot create \(file)"))

        let ed = try Subprocess.run(
            [TestPaths.postieBinary, "dkim", "keygen", "--data-dir", dir, "--domain", "example.com", "--selector", "ed2026", "--algorithm", "ed25519"])
        #expect(ed.status == 0, "\(ed.stderr)")
        #expect(ed.stdout.contains("\"v=DKIM1; k=ed25519; p="))

        try """
            data_dir = "\(dir)"
            [dkim."example.com"]
            selectors = ["rsa2026", "ed2026"]
            """.write(toFile: dir + "/p.toml", atomically: true, encoding: .utf8)
        let check = try Subprocess.run([TestPaths.postieBinary, "check-config", dir + "/p.toml"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("[dkim.\"example.com\"]\nselectors = [\"rsa2026\", \"ed2026\"]"))
        #expect(check.stdout.contains("# rsa2026: rsa-sha256, 2048 bits, \(file)"))
    }

    /// `postie dkim check` against the tests' DNS server: a published key, a missing record, and a
    /// record of another key.
    @Test func checkSaysWhetherEachKeyIsPublished() async throws {
        try await blocking { try Self.checkAgainstDNS() }
    }

    static func checkAgainstDNS() throws {
        let dir = try TestPaths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var records: [String: String] = [:]
        for selector in ["good", "gone", "stale"] {
            let made = try Subprocess.run(
                [TestPaths.postieBinary, "dkim", "keygen", "--domain", "example.com", "--selector", selector, "--algorithm", "ed25519",
                 "--output", "\(dir)/\(selector).pem"])
            #expect(made.status == 0, "\(made.stderr)")
            records[selector] = made.stdout.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element).joined()
        }
        let other = try Subprocess.run([TestPaths.postieBinary, "dkim", "keygen", "--domain", "example.com", "--selector", "x", "--algorithm", "ed25519", "--output", "\(dir)/x.pem"])
        let otherRecord = other.stdout.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(\.element).joined()
        let dns = try TestDNSServer(zone: [
            "good._domainkey.example.com": ["TXT": [records["good"]!]],
            "stale._domainkey.example.com": ["TXT": [otherRecord]],
        ])
        func config(_ selectors: [String]) throws -> String {
            let path = dir + "/\(selectors.joined()).toml"
            try """
                data_dir = "\(dir)"
                [relay]
                dns_server = "127.0.0.1:\(dns.port)"
                [dkim."example.com"]
                selectors = [\(selectors.map { "\"\($0)\"" }.joined(separator: ", "))]
                key_dir = "\(dir)"
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let good = try Subprocess.run([TestPaths.postieBinary, "dkim", "check", "--config", try config(["good"]), "example.com"])
        #expect(good.status == 0, "\(good.stdout) \(good.stderr)")
        #expect(good.stdout == "good._domainkey.example.com (ed25519-sha256): published, and it is this key\n")
        let bad = try Subprocess.run([TestPaths.postieBinary, "dkim", "check", "--config", try config(["good", "gone", "stale"]), "example.com"])
        #expect(bad.status == 1)
        let lines = bad.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("gone._domainkey.example.com (ed25519-sha256): ") && lines[1].contains("NXDOMAIN"), "\(bad.stdout)")
        #expect(lines[2].hasPrefix("stale._domainkey.example.com (ed25519-sha256): the record holds another key; publish: v=DKIM1; k=ed25519; p="))
    }

    @Test func badArgumentsAreRefused() async throws {
        try await blocking { try Self.refuseBadArguments() }
    }

    static func refuseBadArguments() throws {
        for arguments in [["--domain", "example.com", "--selector", "a b"], ["--domain", "nodot", "--selector", "s"],
            ["--domain", "example.com", "--selector", "s", "--algorithm", "dsa"], ["--domain", "example.com", "--selector", "s", "--bits", "1024"]]
        {
            let result = try Subprocess.run([TestPaths.postieBinary, "dkim", "keygen", "--output", "/nonexistent/k.pem"] + arguments)
            #expect(result.status != 0, "\(arguments)")
        }
    }
}
