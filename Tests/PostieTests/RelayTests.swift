import Foundation
import Postie
import TestSupport
import Testing

/// Postie relaying to scripted peers found through a test DNS server, with reports to senders.
@Suite(.serialized) struct RelayTests {
    /// Sends one message from `from` to `to` through the server; returns the SMTP replies' codes.
    func send(_ server: TestServer, from: String = "elinor@abcd.com", to: [String], extraMail: String = "", extraRcpt: String = "")
        async throws -> [String]
    {
        try await blocking {
            let c = try server.client()
            var replies = c.readReply()
            c.send("EHLO client.example\r\n")
            _ = c.readReply()
            c.send("MAIL FROM:<\(from)>\(extraMail)\r\n")
            replies += c.readReply()
            for r in to {
                c.send("RCPT TO:<\(r)>\(extraRcpt)\r\n")
                replies += c.readReply()
            }
            c.send("DATA\r\n")
            replies += c.readReply()
            c.send("Subject: relay test\r\nMessage-ID: <relay-test@abcd.com>\r\n\r\n..dot line\r\nbody\r\n.\r\nQUIT\r\n")
            replies += c.readReply()
            return replies.map { String($0.prefix(3)) }
        }
    }

    /// Waits (bounded) until the condition holds.
    func relayServer(dns: TestDNSServer?, port: Int, _ more: @escaping (inout PostieConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await TestServer { c in
            c.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")]
            c.relay.port = port
            if let dns { c.relay.dnsServer = .init(host: "127.0.0.1", port: dns.port) }
            c.relay.dnsTimeout = 1
            c.relay.dnsAttempts = 1
            c.relay.commandTimeout = 5
            c.relay.connectTimeout = 5
            c.queue.retryMinimum = 1
            c.queue.retryMaximum = 2
            more(&c)
        }
    }

    @Test func relaysThroughMXToTheExchanger() async throws {
        let fake = try FakeSMTPServer(mode: "accept", host: "127.0.0.2")
        let dns = try TestDNSServer(zone: [
            "remote.test": ["MX": [[10, "mx.remote.test"]]],
            "mx.remote.test": ["A": ["127.0.0.2"]],
        ])
        let server = try await relayServer(dns: dns, port: fake.port)
        #expect(try await send(server, to: ["bob@remote.test", "carol@remote.test"]) == ["220", "250", "250", "250", "354", "250"])
        #expect(try await eventually { fake.messages.count == 1 && server.spooled.isEmpty })
        let message = fake.messages.first ?? ""
        #expect(message.contains("X-Envelope-To: <bob@remote.test>\r\nX-Envelope-To: <carol@remote.test>\r\n"))
        #expect(message.contains("Received: from client.example ([127.0.0.1])\r\n\tby mx.test (Postie) with ESMTP id "))
        #expect(message.hasSuffix("Subject: relay test\r\nMessage-ID: <relay-test@abcd.com>\r\n\r\n.dot line\r\nbody\r\n"))
        #expect(fake.rawMessages.first?.contains("\r\n..dot line\r\n") == true)
        await server.stop()
    }

    @Test func nextExchangerWhenTheFirstIsNotPrepared() async throws {
        let busy = try FakeSMTPServer(mode: "greet-421", host: "127.0.0.3")
        let good = try FakeSMTPServer(mode: "accept", host: "127.0.0.4", port: busy.port)
        let dns = try TestDNSServer(zone: [
            "remote.test": ["MX": [[10, "mx1.remote.test"], [20, "mx2.remote.test"]]],
            "mx1.remote.test": ["A": ["127.0.0.3"]],
            "mx2.remote.test": ["A": ["127.0.0.4"]],
        ])
        let server = try await relayServer(dns: dns, port: busy.port)
        _ = try await send(server, to: ["bob@remote.test"])
        #expect(try await eventually { good.messages.count == 1 && server.spooled.isEmpty })
        #expect(busy.messages.isEmpty)
        await server.stop()
    }

    @Test func domainWithoutMXUsesItsAddress() async throws {
        let fake = try FakeSMTPServer(mode: "ehlo-500", host: "127.0.0.5")
        let dns = try TestDNSServer(zone: ["plain.test": ["A": ["127.0.0.5"]]])
        let server = try await relayServer(dns: dns, port: fake.port)
        _ = try await send(server, to: ["bob@plain.test"])
        #expect(try await eventually { fake.messages.count == 1 && server.spooled.isEmpty })
        await server.stop()
    }

    /// An exchanger that refuses the connection: the log and the queue say so in the system's
    /// words, name the exchanger in `relay=`, and never claim the server "said" anything.
    @Test func aRefusedConnectionIsReportedPlainly() async throws {
        let port = try TestPaths.freePort()  // nothing listens there
        let log = CapturedLog()
        let server = try await TestServer(logger: log.logger) { c in
            c.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.1", port: port)
            c.queue.retryMinimum = 60
        }
        _ = try await send(server, to: ["bob@remote.test"])
        let expected = "connect to 127.0.0.1[127.0.0.1]:\(port): Connection refused"
        #expect(try await eventually { log.text.contains("deferred") })
        let line = log.text.split(separator: "\n").first { $0.contains(" deferred ") } ?? ""
        #expect(line.contains("relay=127.0.0.1[127.0.0.1]:\(port)"), "\(line)")
        #expect(line.contains("dsn=4.4.1") && line.contains("reason=\(expected)"), "\(line)")
        #expect(!line.contains("reply="), "no server replied: \(line)")
        #expect(!log.text.contains("said"), "\(log.text)")
        #expect(!log.text.contains("NIOConnectionError") && !log.text.contains("IOError"))
        await server.stop()
    }

    /// A server for the limit tests: its log captured, relaying to `port` through `dns`.
    func limitServer(dns: TestDNSServer, port: Int, log: CapturedLog, _ more: @escaping (inout PostieConfiguration) -> Void = { _ in })
        async throws -> TestServer
    {
        try await TestServer(logger: log.logger) { c in
            c.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")]
            c.relay.port = port
            c.relay.dnsServer = .init(host: "127.0.0.1", port: dns.port)
            c.relay.dnsTimeout = 1
            c.relay.dnsAttempts = 1
            c.queue.retryMinimum = 600
            more(&c)
        }
    }

    func lines(_ log: CapturedLog, _ text: String) -> Int { log.text.split(separator: "\n").filter { $0.contains(text) }.count }

    /// A domain with twenty exchangers, or one exchanger with twenty addresses: one attempt tries
    /// five addresses (relay.mx_address_limit), not all of them.
    @Test(arguments: ["many-mx", "many-addresses"])
    func oneAttemptTriesAtMostFiveAddresses(shape: String) async throws {
        let port = try TestPaths.freePort()  // nothing listens there
        var zone: [String: Any] = [:]
        if shape == "many-mx" {
            zone["far.test"] = ["MX": (0..<20).map { [10 + $0, "mx\($0).far.test"] }]
            for i in 0..<20 { zone["mx\(i).far.test"] = ["A": ["127.0.1.\(i + 1)"]] }
        } else {
            zone["far.test"] = ["MX": [[10, "mx.far.test"]]]
            zone["mx.far.test"] = ["A": (0..<20).map { "127.0.1.\($0 + 1)" }]
        }
        let dns = try TestDNSServer(zone: zone)
        let log = CapturedLog()
        let server = try await limitServer(dns: dns, port: port, log: log)
        _ = try await send(server, to: ["bob@far.test"])
        #expect(try await eventually { self.lines(log, " deferred ") == 1 })
        #expect(lines(log, "exchanger unreachable") == 5, "\(log.text)")
        await server.stop()
    }

    /// Exchangers that greet with 421 are sessions: two of them end the attempt (relay.mx_session_limit).
    @Test func oneAttemptHoldsAtMostTwoSessions() async throws {
        let first = try FakeSMTPServer(mode: "greet-421", host: "127.0.0.31")
        let second = try FakeSMTPServer(mode: "greet-421", host: "127.0.0.32", port: first.port)
        let third = try FakeSMTPServer(mode: "accept", host: "127.0.0.33", port: first.port)
        let dns = try TestDNSServer(zone: [
            "far.test": ["MX": [[10, "a.far.test"], [20, "b.far.test"], [30, "c.far.test"]]],
            "a.far.test": ["A": ["127.0.0.31"]], "b.far.test": ["A": ["127.0.0.32"]], "c.far.test": ["A": ["127.0.0.33"]],
        ])
        let log = CapturedLog()
        let server = try await limitServer(dns: dns, port: first.port, log: log)
        _ = try await send(server, to: ["bob@far.test"])
        #expect(try await eventually { self.lines(log, " deferred ") == 1 })
        #expect(lines(log, "exchanger not prepared") == 2)
        #expect(third.messages.isEmpty, "the third exchanger waits for the next attempt")
        await server.stop()
        _ = second
    }

    /// An MX that names this server, or an exchanger at its own address and port: the mail would
    /// come back, so it fails at once with 5.4.6 (it used to run a hundred hops first).
    @Test(arguments: ["mx-names-us", "mx-is-our-address"])
    func mailThatWouldLoopBackFailsAtOnce(shape: String) async throws {
        let port = try TestPaths.freePort()
        let dns = try TestDNSServer(zone: [
            "loop.test": ["MX": [[10, shape == "mx-names-us" ? "mx.test" : "self.loop.test"]]],
            "self.loop.test": ["A": ["127.0.0.1"]],
        ])
        let log = CapturedLog()
        let server = try await limitServer(dns: dns, port: port, log: log) { $0.smtp.listen = [.init(host: "127.0.0.1", port: port)] }
        _ = try await send(server, to: ["bob@loop.test"])
        #expect(try await eventually { self.lines(log, " bounced ") == 1 })
        let bounced = log.text.split(separator: "\n").first { $0.contains(" bounced ") } ?? ""
        #expect(bounced.contains("dsn=5.4.6") && bounced.contains("reason=mail for loop.test loops back to myself"), "\(log.text)")
        #expect(lines(log, "too many hops") == 0)
        #expect(try await eventually { await server.messages("elinor", "abcd.com").first?.contains("loops back to myself") == true })
        await server.stop()
    }

    @Test func deferredThenDeliveredOnce() async throws {
        let fake = try FakeSMTPServer(mode: "defer-first", host: "127.0.0.6")
        let server = try await relayServer(dns: nil, port: fake.port) { $0.relay.routes["remote.test"] = .init(host: "127.0.0.6", port: fake.port) }
        _ = try await send(server, to: ["bob@remote.test"])
        #expect(try await eventually { fake.messages.count == 1 && server.spooled.isEmpty })
        // Nothing can be sent twice: the message is gone and no attempt is scheduled (the
        // scheduler's retries are tested on virtual time in QueueRunnerTests).
        await server.server.waitForDeliveries()
        #expect(server.server.scheduledDeliveries == 0)
        #expect(fake.messages.count == 1)
        #expect(await server.messages("elinor", "abcd.com").isEmpty)  // no report for a delivered message
        await server.stop()
    }

    @Test func restartInTheMiddleOfTheRetrySchedule() async throws {
        let fake = try FakeSMTPServer(mode: "defer-first", host: "127.0.0.7")
        let dir = try TestPaths.temporaryDirectory("retry-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let route: (inout PostieConfiguration) -> Void = {
            $0.dataDirectory = dir
            $0.relay.routes["remote.test"] = .init(host: "127.0.0.7", port: fake.port)
            $0.queue.retryMinimum = 2
        }
        let first = try await relayServer(dns: nil, port: fake.port, route)
        _ = try await send(first, to: ["bob@remote.test"])
        #expect(try await eventually { await first.deferredCount() == 1 })
        await first.server.stop()
        #expect(fake.messages.isEmpty)
        let envelope = try String(contentsOfFile: dir + "/spool/env/" + (first.spooled.first ?? "?"), encoding: .utf8)
        #expect(envelope.contains("\tdeferred\tattempts=1\t"))
        #expect(envelope.contains("Next-Attempt: "))
        let second = try await relayServer(dns: nil, port: fake.port, route)
        #expect(try await eventually { fake.messages.count == 1 && second.spooled.isEmpty })
        await second.server.waitForDeliveries()
        #expect(second.server.scheduledDeliveries == 0)
        #expect(fake.messages.count == 1)
        await second.server.stop()
    }

    @Test(arguments: [
        ("reject-rcpt", "5.1.1"), ("reject-data", "5.7.1"), ("nullmx", "5.1.10"), ("nxdomain", "5.1.2"),
    ])
    func permanentFailuresGoBackToTheSender(mode: String, status: String) async throws {
        let fake = try FakeSMTPServer(mode: mode.hasPrefix("reject") ? mode : "accept", host: "127.0.0.8")
        let dns = try TestDNSServer(zone: [
            "remote.test": mode == "nullmx" ? ["MX": [[0, "."]]] : ["MX": [[10, "mx.remote.test"]]],
            "mx.remote.test": ["A": ["127.0.0.8"]],
            "gone.test": "NXDOMAIN",
        ])
        let server = try await relayServer(dns: dns, port: fake.port)
        let domain = mode == "nxdomain" ? "gone.test" : "remote.test"
        _ = try await send(server, to: ["bob@\(domain)"], extraMail: " RET=HDRS ENVID=ENV42")
        #expect(try await eventually { await server.messages("elinor", "abcd.com").count == 1 && server.spooled.isEmpty })
        let report = await server.messages("elinor", "abcd.com").first ?? ""
        // A server's refusal is quoted as its reply; Postie's own verdict (the domain has no mail
        // service, or does not exist) is said in Postie's words.
        let diagnostic = mode.hasPrefix("reject") ? "smtp; 5" : "X-Postie; "
        let check = try await blocking { try Subprocess.python(Self.reportCheck, [status, diagnostic], stdin: report) }
        #expect(check.stdout == "ok\n", "\(check.stdout)\(check.stderr)\n\(report)")
        #expect(report.hasPrefix("Return-Path: <>\n"))
        await server.stop()
    }

    /// Parses a report with Python's email package and checks the RFC 3464 structure.
    static let reportCheck = """
        import email, sys
        from email import policy
        status = sys.argv[1]
        m = email.message_from_string(sys.stdin.read())
        assert m.get_content_type() == 'multipart/report', m.get_content_type()
        assert m.get_param('report-type') == 'delivery-status'
        assert m['Auto-Submitted'] == 'auto-replied'
        assert m['From'].startswith('Mail Delivery System <MAILER-DAEMON@')
        parts = m.get_payload()
        assert [p.get_content_type() for p in parts] == ['text/plain', 'message/delivery-status', 'text/rfc822-headers'], [p.get_content_type() for p in parts]
        fields = parts[1].get_payload()
        per_message, per_recipient = fields[0], fields[1:]
        assert per_message['Reporting-MTA'] == 'dns; mx.test', per_message['Reporting-MTA']
        assert per_message['Original-Envelope-Id'] == 'ENV42'
        assert per_message['Arrival-Date']
        assert len(per_recipient) == 1
        r = per_recipient[0]
        assert r['Final-Recipient'].startswith('rfc822; bob@'), r['Final-Recipient']
        assert r['Action'] == 'failed', r['Action']
        assert r['Status'] == status, r['Status']
        assert r['Diagnostic-Code'].startswith(sys.argv[2]), r['Diagnostic-Code']
        assert r['Last-Attempt-Date']
        headers = parts[2].get_payload()
        assert 'Subject: relay test' in headers and 'dot line' not in headers, headers
        print('ok')
        """

    @Test func successNoticeWhenAsked() async throws {
        let fake = try FakeSMTPServer(mode: "accept", host: "127.0.0.9")
        let server = try await relayServer(dns: nil, port: fake.port) { $0.relay.routes["remote.test"] = .init(host: "127.0.0.9", port: fake.port) }
        _ = try await send(server, to: ["bob@remote.test"], extraRcpt: " NOTIFY=SUCCESS ORCPT=rfc822;bob@remote.test")
        #expect(try await eventually { await server.messages("elinor", "abcd.com").count == 1 && server.spooled.isEmpty })
        let report = await server.messages("elinor", "abcd.com").first ?? ""
        #expect(report.contains("Action: relayed\n"))
        #expect(report.contains("Original-Recipient: rfc822;bob@remote.test\n"))
        #expect(fake.messages.first?.contains("X-Envelope-To: <bob@remote.test>") == true)
        await server.stop()
    }

    /// Backscatter: a stranger asks for a success report with a third party as the sender. Postie
    /// cannot vouch for the sender, so no report goes out; the same from a trusted client does.
    @Test func successReportsOnlyForSendersPostieCanVouchFor() async throws {
        let stranger = try await TestServer()
        let replies = try await send(stranger, to: ["carolyn@xyz.com"], extraMail: " RET=FULL", extraRcpt: " NOTIFY=SUCCESS")
        #expect(replies == ["220", "250", "250", "354", "250"])
        // A report would be in the spool before the message left it, and delivered before it empties.
        #expect(try await eventually { await stranger.messages("carolyn").count == 1 && stranger.spooled.isEmpty })
        #expect(await stranger.messages("elinor", "abcd.com").isEmpty, "no report to a sender nobody vouched for")
        await stranger.stop()

        let trusted = try await TestServer { $0.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")] }
        _ = try await send(trusted, to: ["carolyn@xyz.com"], extraMail: " RET=FULL", extraRcpt: " NOTIFY=SUCCESS")
        #expect(try await eventually { await trusted.messages("elinor", "abcd.com").first?.contains("Action: delivered") == true })
        await trusted.stop()
    }

    /// A stranger's mail that an alias forwards to a refusing address: the report goes to the
    /// forwarding domain's postmaster, not to the sender the stranger wrote, and such reports are
    /// capped per domain and hour.
    @Test func forwardedFailuresGoToTheForwarderAndAreCapped() async throws {
        let fake = try FakeSMTPServer(mode: "reject-rcpt", host: "127.0.0.34")
        let log = CapturedLog()
        let server = try await TestServer(logger: log.logger) { c in
            c.domains["xyz.com"]?.aliases["outside"] = ["bob@remote.test"]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.34", port: fake.port)
            c.queue.reportsPerDomainPerHour = 2
        }
        for _ in 0..<4 { _ = try await send(server, to: ["outside@xyz.com"]) }
        #expect(try await eventually { server.spooled.isEmpty && self.lines(log, " bounced ") == 4 })
        #expect(try await eventually { await server.messages("postmaster").count == 2 })
        #expect(await server.messages("postmaster").first?.contains("Final-Recipient: rfc822; bob@remote.test") == true)
        #expect(await server.messages("elinor", "abcd.com").isEmpty, "nothing to the sender nobody vouched for")
        #expect(lines(log, "no report: too many reports to this domain in the last hour") == 2)
        await server.stop()
    }

    @Test func delayNoticeOnceWhileStillTrying() async throws {
        let fake = try FakeSMTPServer(mode: "defer-always", host: "127.0.0.12")
        let server = try await relayServer(dns: nil, port: fake.port) {
            $0.relay.routes["remote.test"] = .init(host: "127.0.0.12", port: fake.port)
            $0.queue.delayWarning = 1
        }
        _ = try await send(server, to: ["bob@remote.test"])
        #expect(try await eventually { await server.messages("elinor", "abcd.com").count == 1 })
        try await Task.sleep(for: .seconds(3))  // more retries: still one notice
        let notices = await server.messages("elinor", "abcd.com")
        #expect(notices.count == 1)
        #expect(notices.first?.contains("Subject: Delayed Mail (still being retried)") == true)
        #expect(notices.first?.contains("Action: delayed\n") == true)
        #expect(server.spooled.count == 1)
        await server.stop()
    }

    @Test func severalMessagesShareAConnection() async throws {
        let fake = try FakeSMTPServer(mode: "slow-greet", host: "127.0.0.13")
        let server = try await relayServer(dns: nil, port: fake.port) {
            $0.relay.routes["remote.test"] = .init(host: "127.0.0.13", port: fake.port)
            $0.relay.maxConnectionsPerDestination = 1
        }
        for n in 0..<5 { _ = try await send(server, to: ["user\(n)@remote.test"]) }
        #expect(try await eventually { fake.messages.count == 5 && server.spooled.isEmpty })
        let connections = Set(fake.messages.compactMap { $0.split(separator: "\r\n").first { $0.hasPrefix("X-Connection: ") } })
        // The first message opens a connection; the rest arrive while it greets slowly and share the next.
        #expect(connections.count <= 2, "\(connections)")
        await server.stop()
    }

    @Test func smarthostWithAuthOverTLS() async throws {
        let fake = try FakeSMTPServer(mode: "auth")
        let server = try await relayServer(dns: nil, port: fake.port) {
            $0.relay.smarthost = .init(host: "127.0.0.1", port: fake.port)
            $0.relay.smarthostUser = "relay"
            $0.relay.smarthostPassword = "s3cret"
        }
        _ = try await send(server, to: ["someone@anywhere.test"])
        #expect(try await eventually { fake.messages.count == 1 && server.spooled.isEmpty })
        #expect(fake.messages.first?.hasPrefix("X-Auth: relay tls=yes\r\n") == true)

        let wrong = try await relayServer(dns: nil, port: fake.port) {
            $0.relay.smarthost = .init(host: "127.0.0.1", port: fake.port)
            $0.relay.smarthostUser = "relay"
            $0.relay.smarthostPassword = "wrong"
            $0.queue.retryMinimum = 3600
        }
        _ = try await send(wrong, to: ["someone@anywhere.test"])
        #expect(try await eventually { await wrong.deferredCount() == 1 })
        let envelope = wrong.spooled.first.flatMap { try? String(contentsOfFile: wrong.dataDirectory + "/spool/env/" + $0, encoding: .utf8) } ?? ""
        #expect(envelope.contains("authentication failed"), "\(envelope)")
        #expect(fake.messages.count == 1)
        await server.stop()
        await wrong.stop()
    }

    @Test func reportToARemoteSenderGoesThroughTheRelay() async throws {
        let refusing = try FakeSMTPServer(mode: "reject-rcpt", host: "127.0.0.14")
        let senderSide = try FakeSMTPServer(mode: "accept", host: "127.0.0.15", port: refusing.port)
        let server = try await relayServer(dns: nil, port: refusing.port) {
            $0.relay.routes["remote.test"] = .init(host: "127.0.0.14", port: refusing.port)
            $0.relay.routes["senders.test"] = .init(host: "127.0.0.15", port: refusing.port)
        }
        _ = try await send(server, from: "someone@senders.test", to: ["bob@remote.test"])
        #expect(try await eventually { senderSide.messages.count == 1 && server.spooled.isEmpty })
        let report = senderSide.messages.first ?? ""
        #expect(report.hasPrefix("X-Envelope-From: <> SIZE="), "\(report)")
        #expect(report.contains("X-Envelope-To: <someone@senders.test>"))
        #expect(report.contains("Content-Type: multipart/report; report-type=delivery-status;"))
        #expect(report.contains("Final-Recipient: rfc822; bob@remote.test"))
        await server.stop()
    }

    @Test func undeclaredEightBitNeverGoesToAPeerWithout8BITMIME() async throws {
        let fake = try FakeSMTPServer(mode: "no-8bit", host: "127.0.0.16")
        let server = try await relayServer(dns: nil, port: fake.port) { $0.relay.routes["remote.test"] = .init(host: "127.0.0.16", port: fake.port) }
        try await blocking {
            let c = try server.client()
            _ = c.readReply()
            c.send("EHLO c\r\nMAIL FROM:<elinor@abcd.com>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\n")
            for _ in 0..<4 { _ = c.readReply() }
            c.send("Subject: caf\u{e9}\r\n\r\n8-bit body \u{e9}\r\n.\r\n")  // no BODY=8BITMIME declared
            _ = c.readReply()
        }
        #expect(try await eventually { await server.messages("elinor", "abcd.com").count == 1 && server.spooled.isEmpty })
        #expect(await server.messages("elinor", "abcd.com").first?.contains("Status: 5.6.3") == true)
        #expect(fake.messages.isEmpty)
        await server.stop()
    }

    @Test func nullSenderNeverGetsAReport() async throws {
        let fake = try FakeSMTPServer(mode: "reject-rcpt", host: "127.0.0.10")
        let server = try await relayServer(dns: nil, port: fake.port) { $0.relay.routes["remote.test"] = .init(host: "127.0.0.10", port: fake.port) }
        _ = try await send(server, from: "", to: ["bob@remote.test"])
        #expect(try await eventually { server.spooled.isEmpty })
        #expect(await server.messages("postmaster").isEmpty)
        #expect(await server.messages("elinor", "abcd.com").isEmpty)
        await server.stop()
    }

    @Test func aliasToARemoteAddressIsRelayed() async throws {
        let fake = try FakeSMTPServer(mode: "accept", host: "127.0.0.11")
        let server = try await TestServer { c in
            c.domains["xyz.com"]?.aliases["outside"] = ["bob@remote.test", "carolyn"]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.11", port: fake.port)
        }
        // Not a trusted client: the alias is local, so it is accepted; its remote target is relayed.
        _ = try await send(server, to: ["outside@xyz.com"])
        #expect(try await eventually { fake.messages.count == 1 && server.spooled.isEmpty })
        #expect(await server.messages("carolyn").count == 1)
        await server.stop()
    }
}

import MailCore

func IPNetworkParse(_ text: String) -> IPNetwork { IPNetwork(text)! }

extension TestServer {
    /// Recipients deferred in the spool.
    func deferredCount() async -> Int {
        spooled.compactMap { try? String(contentsOfFile: dataDirectory + "/spool/env/" + $0, encoding: .utf8) }
            .map { $0.components(separatedBy: "\tdeferred\t").count - 1 }.reduce(0, +)
    }
}
