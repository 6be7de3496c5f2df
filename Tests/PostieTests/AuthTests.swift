import Foundation
import Logging
import Postie
import TestSupport
import Testing

/// Authenticated submission (RFC 6409, RFC 4954) with real clients: smtplib and swaks over
/// STARTTLS and implicit TLS, relaying for users, sender ownership, failure limits, and logs
/// that never hold a credential.
@Suite(.serialized) struct AuthTests {
    static let password = "wonder land 42"
    /// Cheap to check in tests; `postie passwd` uses the full cost.
    static let hash = try! PasswordHash.make(password: Array(password.utf8), logRounds: 4)

    static func users(_ c: inout PostieConfiguration) {
        c.auth.users = ["alice@xyz.com": .init(password: hash, sendAs: ["@abcd.com"])]
        c.submission.listen = [.init(host: "127.0.0.1", port: 0)]
        c.submission.tlsListen = [.init(host: "127.0.0.1", port: 0)]
        c.auth.failureDelay = 0.2
        c.auth.maxFailures = 3
    }

    static let client = """
        import smtplib, ssl, sys
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        port, mode, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        def attempt(s, how, *args):
            try:
                r = how(*args)
                print('%d %s' % (r[0], r[1].decode()) if isinstance(r, tuple) else 'ok')
            except smtplib.SMTPResponseException as e:
                print(e.smtp_code, e.smtp_error.decode())
            except smtplib.SMTPRecipientsRefused as e:
                for k in sorted(e.recipients): print(k, e.recipients[k][0])
            except smtplib.SMTPSenderRefused as e:
                print(e.smtp_code, e.smtp_error.decode())
        if mode == 'implicit':
            s = smtplib.SMTP_SSL('127.0.0.1', port, context=ctx, timeout=30)
            s.ehlo('client.example')
        else:
            s = smtplib.SMTP('127.0.0.1', port, timeout=30)
            s.ehlo('client.example')
            print('AUTH before TLS' if s.has_extn('auth') else 'no AUTH before TLS')
            attempt(s, s.docmd, 'MAIL FROM:<alice@xyz.com>')
            s.starttls(context=ctx)
            s.ehlo('client.example')
        print('AUTH ' + s.esmtp_features.get('auth', '').strip())
        attempt(s, s.docmd, 'MAIL FROM:<alice@xyz.com>')
        if mode != 'implicit':
            s.rset()
        attempt(s, s.login, 'alice@xyz.com', password)
        attempt(s, s.sendmail, 'bob@xyz.com', ['carolyn@xyz.com'], b'Subject: not mine\\r\\n\\r\\nx\\r\\n')
        attempt(s, s.sendmail, 'alice@xyz.com', ['carolyn@xyz.com', 'dave@remote.test'], b'Subject: submitted\\r\\n\\r\\nhello\\r\\n')
        attempt(s, s.sendmail, 'news@abcd.com', ['carolyn@xyz.com'], b'Subject: as the domain\\r\\n\\r\\nhi\\r\\n')
        s.quit()
        """

    /// A second Postie that takes mail for remote.test, so relaying can be seen to arrive.
    static func withReceiver(_ body: (TestServer, TestServer) async throws -> Void) async throws {
        let receiver = try await TestServer { $0.domains["remote.test"] = .init(users: ["dave"]) }
        do {
            try await withServer({ c in
                users(&c)
                c.relay.routes["remote.test"] = .init(host: "127.0.0.1", port: receiver.port)
            }) { server in try await body(server, receiver) }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    @Test func submissionOverSTARTTLSWithSmtplib() async throws {
        try await Self.withReceiver { server, receiver in
            let port = server.server.addresses[1].port!
            let r = try await blocking { try Subprocess.python(Self.client, ["\(port)", "starttls", Self.password]) }
            #expect(
                r.stdout == """
                    no AUTH before TLS
                    530 5.7.0 Error: authentication required
                    AUTH PLAIN LOGIN
                    530 5.7.0 Error: authentication required
                    235 2.7.0 Authentication successful
                    553 5.7.1 <bob@xyz.com>: Sender address rejected: not owned by user alice@xyz.com
                    ok
                    ok

                    """, "\(r.stderr)")
            let carolyn = await server.messages("carolyn")
            #expect(carolyn.count == 2)
            #expect(carolyn.first?.contains("with ESMTPSA (version=TLSv1.") == true, "\(carolyn)")
            // Authenticated users relay.
            #expect(try await eventually { await !receiver.messages("dave", "remote.test").isEmpty })
            #expect(await receiver.messages("dave", "remote.test").first?.contains("Subject: submitted") == true)
        }
    }

    @Test func implicitTLSSubmission() async throws {
        try await Self.withReceiver { server, _ in
            let port = server.server.addresses[2].port!
            let r = try await blocking { try Subprocess.python(Self.client, ["\(port)", "implicit", Self.password]) }
            #expect(
                r.stdout.hasPrefix("AUTH PLAIN LOGIN\n530 5.7.0 Error: authentication required\n235 2.7.0 Authentication successful\n553 5.7.1"),
                "\(r.stdout)\(r.stderr)")
            #expect(await server.messages("carolyn").count == 2)
        }
    }

    @Test func swaksPlainAndLoginOverSTARTTLS() async throws {
        try await withServer(Self.users) { server in
            let port = server.server.addresses[1].port!
            for mechanism in ["PLAIN", "LOGIN"] {
                let r = try await blocking {
                    try Subprocess.run([
                        "swaks", "--server", "127.0.0.1:\(port)", "--tls", "--auth", mechanism, "--auth-user", "alice@xyz.com",
                        "--auth-password", Self.password, "--from", "alice@xyz.com", "--to", "bob@xyz.com", "--header",
                        "Subject: swaks \(mechanism)", "--body", "hi",
                    ])
                }
                #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
                #expect(r.stdout.contains("<~  235 2.7.0 Authentication successful"), "\(r.stdout)")
            }
            let wrong = try await blocking {
                try Subprocess.run([
                    "swaks", "--server", "127.0.0.1:\(port)", "--tls", "--auth", "LOGIN", "--auth-user", "alice@xyz.com",
                    "--auth-password", "guess", "--from", "alice@xyz.com", "--to", "bob@xyz.com",
                ])
            }
            #expect(wrong.status != 0)
            #expect(wrong.stdout.contains("<~* 535 5.7.8 Error: authentication failed"), "\(wrong.stdout)")
            #expect(await server.messages("bob").count == 2)
        }
    }

    @Test func port25OffersAuthOverTLSAndUsersMayRelayThere() async throws {
        try await Self.withReceiver { server, receiver in
            let script = """
                import smtplib, ssl, sys
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                s.ehlo('c')
                try:
                    s.sendmail('x@client.example', ['dave@remote.test'], b'Subject: stranger\\r\\n\\r\\nx\\r\\n')
                except smtplib.SMTPRecipientsRefused as e:
                    print(e.recipients['dave@remote.test'][0])
                s.starttls(context=ctx)
                s.ehlo('c')
                s.login('ALICE@xyz.com', sys.argv[2])
                print(s.sendmail('alice@xyz.com', ['dave@remote.test'], b'Subject: relayed\\r\\n\\r\\nx\\r\\n'))
                s.quit()
                """
            let r = try await blocking { try Subprocess.python(script, ["\(server.port)", Self.password]) }
            #expect(r.stdout == "554\n{}\n", "\(r.stderr)")
            #expect(try await eventually { await receiver.messages("dave", "remote.test").count == 1 })
        }
    }

    @Test func failedAttemptsAreSlowedThenRefusedPerClient() async throws {
        try await withServer(Self.users) { server in
            let port = server.server.addresses[1].port!
            let script = """
                import smtplib, ssl, sys, time
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                def session(password):
                    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                    s.starttls(context=ctx)
                    s.ehlo('c')
                    s.user, s.password = 'alice@xyz.com', password
                    started = time.monotonic()
                    try:
                        code, text = s.auth('PLAIN', s.auth_plain)
                        result = '%d %s' % (code, text.decode())
                    except smtplib.SMTPResponseException as e:
                        result = '%d %s' % (e.smtp_code, e.smtp_error.decode())
                    waited = time.monotonic() - started
                    try: s.quit()
                    except Exception: pass
                    return result, waited
                for i in range(3):
                    result, waited = session('guess%d' % i)
                    print(result, 'slowed' if waited >= 0.2 * (i + 1) else 'at once')
                # The fourth attempt from this address is refused, even with the right password.
                print(session(sys.argv[2])[0])
                """
            let r = try await blocking { try Subprocess.python(script, ["\(port)", Self.password]) }
            #expect(
                r.stdout == """
                    535 5.7.8 Error: authentication failed slowed
                    535 5.7.8 Error: authentication failed slowed
                    535 5.7.8 Error: authentication failed slowed
                    421 4.7.0 Error: too many failed authentication attempts, try again later

                    """, "\(r.stderr)")
            #expect(server.metricsText.contains(#"postie_limits_hit_total{limit="auth_failures"} 1"#))
            #expect(server.metricsText.contains(#"postie_auth_attempts_total{result="failure"} 4"#), "\(server.metricsText)")
        }
    }

    /// Twenty connections from one address guess at once: only as many passwords are checked as
    /// the limit allows (3 here); the others are refused without a check.
    @Test func simultaneousGuessesCannotOutrunTheLimit() async throws {
        try await withServer(Self.users) { server in
            let port = server.server.addresses[1].port!
            let script = """
                import smtplib, ssl, sys, threading
                ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
                ready = threading.Barrier(20)
                results = []
                def guess(i):
                    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60)
                    s.starttls(context=ctx)
                    s.ehlo('c')
                    s.user, s.password = 'alice@xyz.com', 'guess%d' % i
                    ready.wait()
                    try:
                        code, _ = s.auth('PLAIN', s.auth_plain)
                    except smtplib.SMTPResponseException as e:
                        code = e.smtp_code
                    results.append(code)
                ts = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
                for t in ts: t.start()
                for t in ts: t.join()
                print(sorted(results))
                """
            let r = try await blocking { try Subprocess.python(script, ["\(port)"]) }
            #expect(r.stdout == "[421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 421, 535, 535, 535]\n", "\(r.stdout)\(r.stderr)")
        }
    }

    /// After AUTH the From: header is tied to the login as MAIL FROM is (`auth.header_from`).
    static let headerFrom = """
        import smtplib, ssl, sys
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
        s.starttls(context=ctx)
        s.login('alice@xyz.com', sys.argv[2])
        for header in ['From: Bob <bob@xyz.com>', 'From: "Alice" <alice@xyz.com>', 'From: shop@abcd.com', 'From: alice@xyz.com,\\r\\n mallory@evil.example']:
            try:
                s.sendmail('alice@xyz.com', ['carolyn@xyz.com'], (header + '\\r\\nSubject: from check\\r\\n\\r\\nbody\\r\\n').encode())
                print('accepted')
            except smtplib.SMTPDataError as e:
                print(e.smtp_code, e.smtp_error.decode())
        s.quit()
        """

    @Test func theFromHeaderBelongsToTheUser() async throws {
        try await withServer(Self.users) { server in
            let port = server.server.addresses[1].port!
            let r = try await blocking { try Subprocess.python(Self.headerFrom, ["\(port)", Self.password]) }
            #expect(
                r.stdout == """
                    550 5.7.1 Error: From: address bob@xyz.com is not yours to send as
                    accepted
                    accepted
                    550 5.7.1 Error: From: address mallory@evil.example is not yours to send as

                    """, "\(r.stderr)")
            #expect(await server.messages("carolyn").count == 2)
        }
        try await withServer({ Self.users(&$0); $0.auth.restrictHeaderFrom = false }) { server in
            let port = server.server.addresses[1].port!
            let r = try await blocking { try Subprocess.python(Self.headerFrom, ["\(port)", Self.password]) }
            #expect(r.stdout == "accepted\naccepted\naccepted\naccepted\n", "\(r.stderr)")
        }
    }

    /// A stranger on port 25 using one of our domains as the sender: taken by default (forwarded
    /// mail keeps such senders), refused with `smtp.unauthenticated_local_senders = "refuse"`.
    @Test func strangersWithLocalSendersAsConfigured() async throws {
        let dialogue: @Sendable (TestServer) throws -> [String] = { server in
            let c = try server.client()
            _ = c.readReply()
            c.send("EHLO c\r\nMAIL FROM:<carolyn@xyz.com>\r\nRCPT TO:<bob@xyz.com>\r\nQUIT\r\n")
            return (0..<4).compactMap { _ in c.readReply().last }
        }
        try await withServer { server in
            let replies = try await blocking { try dialogue(server) }
            #expect(replies.dropFirst(2).first == "250 2.1.5 Ok")
        }
        try await withServer({ $0.smtp.refuseStrangersWithLocalSenders = true }) { server in
            let replies = try await blocking { try dialogue(server) }
            #expect(replies.dropFirst(2).first == "550 5.7.1 <carolyn@xyz.com>: Sender address rejected: a sender in a local domain must authenticate")
        }
        // A trusted network may.
        try await withServer({ $0.smtp.refuseStrangersWithLocalSenders = true; $0.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")] }) { server in
            let replies = try await blocking { try dialogue(server) }
            #expect(replies.dropFirst(2).first == "250 2.1.5 Ok")
        }
    }

    @Test func credentialsNeverReachTheLog() async throws {
        let log = CapturedLog()
        try await withServer(logger: log.logger, Self.users) { server in
            let port = server.server.addresses[1].port!
            _ = try await blocking { try Subprocess.python(Self.client, ["\(port)", "starttls", Self.password]) }
            _ = try await blocking { try Subprocess.python(Self.client, ["\(port)", "starttls", "my secret guess"]) }
            _ = await server.messages("carolyn")
        }
        let text = log.text
        #expect(text.contains("authenticated") && text.contains("user=alice@xyz.com"), "\(text)")
        #expect(text.contains("authentication failed"), "\(text)")
        let plain = Data("\0alice@xyz.com\0\(Self.password)".utf8).base64EncodedString()
        for secret in [Self.password, "my secret guess", plain, Data(Self.password.utf8).base64EncodedString(), "AUTH "] {
            #expect(!text.contains(secret), "the log holds \(secret)")
        }
    }

    @Test func anySenderWhenConfigured() async throws {
        try await withServer({ c in
            Self.users(&c)
            c.auth.restrictSenders = false
        }) { server in
            let port = server.server.addresses[1].port!
            let r = try await blocking { try Subprocess.python(Self.client, ["\(port)", "starttls", Self.password]) }
            #expect(r.stdout.contains("235 2.7.0 Authentication successful\nok\n"), "\(r.stdout)\(r.stderr)")
        }
    }
}
