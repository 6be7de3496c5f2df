import Foundation
import TestSupport
import Testing

/// Real clients (Python's smtplib, swaks) against the real server.
@Suite struct RealClientTests {
    @Test func figure1WithSmtplib() async throws {
        try await withServer { server in
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
                code, _ = s.helo('abcd.com')
                assert code == 250, code
                msg = b'From: elinor@abcd.com\\r\\nTo: carolyn@xyz.com\\r\\nSubject: Earth orbit stable\\r\\n\\r\\nHappy birthday!\\r\\n'
                refused = s.sendmail('elinor@abcd.com', ['carolyn@xyz.com'], msg)
                assert refused == {}, refused
                print(s.quit()[0])
                """
            let result = try await blocking { try Subprocess.python(script, ["\(server.port)"]) }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "221\n")
            let delivered = await server.messages("carolyn")
            #expect(delivered.count == 1)
            let message = delivered.first ?? ""
            #expect(message.hasPrefix("Return-Path: <elinor@abcd.com>\nReceived: from abcd.com ([127.0.0.1])\n\tby mx.test (Postie) with SMTP id "))
            #expect(message.contains("\n\tfor <carolyn@xyz.com>;\n"))
            #expect(body(message) == "From: elinor@abcd.com\nTo: carolyn@xyz.com\nSubject: Earth orbit stable\n\nHappy birthday!\n")
            #expect(server.spooled.isEmpty)
        }
    }

    @Test func dotStuffingAndEightBitSurvive() async throws {
        try await withServer { server in
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
                s.ehlo('client.example')
                msg = 'Subject: dots\\r\\n\\r\\n.\\r\\n..two\\r\\n.three\\r\\ncafé\\r\\n'.encode('utf-8')
                s.sendmail('a@client.example', ['bob@xyz.com'], msg, mail_options=['BODY=8BITMIME'])
                s.quit()
                """
            let result = try await blocking { try Subprocess.python(script, ["\(server.port)"]) }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await server.messages("bob").map(body) == ["Subject: dots\n\n.\n..two\n.three\ncafé\n"])
        }
    }

    @Test func mixedRecipientsWithSmtplib() async throws {
        try await withServer { server in
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
                refused = s.sendmail('a@client.example', ['carolyn@xyz.com', 'nobody@xyz.com', 'x@elsewhere.example', 'team@xyz.com'],
                                     b'Subject: mixed\\r\\n\\r\\nhi\\r\\n')
                for k in sorted(refused): print(k, refused[k][0])
                s.quit()
                """
            let result = try await blocking { try Subprocess.python(script, ["\(server.port)"]) }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "nobody@xyz.com 550\nx@elsewhere.example 554\n")
            // carolyn directly and through the alias: one copy; bob through the alias.
            #expect(await server.messages("carolyn").count == 1)
            #expect(await server.messages("bob").count == 1)
        }
    }

    @Test func swaksTransactionWithValidAndInvalidRecipients() async throws {
        try await withServer { server in
            let result = try await blocking {
                try Subprocess.run([
                    "swaks", "--server", "127.0.0.1:\(server.port)", "--helo", "client.example", "--from", "a@client.example",
                    "--to", "carolyn@xyz.com,nobody@xyz.com,bob+news@xyz.com", "--header", "Subject: from swaks", "--body",
                    "Sent by swaks.",
                ])
            }
            #expect(result.stdout.contains("<** 550 5.1.1 <nobody@xyz.com>"), "\(result.stdout)")
            #expect(result.stdout.contains("<-  250 2.0.0 Ok: queued as"), "\(result.stdout)")
            let carolyn = await server.messages("carolyn")
            let bob = await server.messages("bob")
            #expect(carolyn.count == 1)
            #expect(bob.count == 1)
            #expect(carolyn.first?.contains("Subject: from swaks\n") == true)
            #expect(carolyn.first?.contains("Sent by swaks.") == true)
        }
    }

    @Test func swaksPipeliningAndChunking() async throws {
        try await withServer { server in
            let result = try await blocking {
                try Subprocess.run([
                    "swaks", "--server", "127.0.0.1:\(server.port)", "--pipeline", "--from", "a@client.example", "--to", "bob@xyz.com",
                    "--body", "pipelined by swaks",
                ])
            }
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(await server.messages("bob").first?.contains("pipelined by swaks") == true)
        }
    }

    @Test func oversizeMessageIsRefusedAndNothingDelivered() async throws {
        try await withServer({ $0.smtp.limits.maxMessageSize = 10_000 }) { server in
            let script = """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
                s.ehlo('c')
                print(s.esmtp_features.get('size'))
                s.mail('a@client.example')
                s.rcpt('bob@xyz.com')
                code, text = s.data(b'Subject: big\\r\\n\\r\\n' + b'0123456789abcdef\\r\\n' * 1000)
                print(code, text.decode()[:5])
                code, _ = s.noop()
                print(code)
                s.quit()
                """
            let result = try await blocking { try Subprocess.python(script, ["\(server.port)"]) }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "10000\n552 5.3.4\n250\n")
            #expect(await server.messages("bob").isEmpty)
            #expect(server.spooled.isEmpty)
        }
    }

    @Test func twoHundredConcurrentClientsAllDelivered() async throws {
        try await withServer { server in
            let script = """
                import smtplib, sys, threading
                port = int(sys.argv[1])
                errors = []
                def send(i):
                    try:
                        s = smtplib.SMTP('127.0.0.1', port, timeout=60)
                        s.sendmail('a@client.example', ['carolyn@xyz.com'], ('Subject: %d\\r\\n\\r\\nmessage %d\\r\\n' % (i, i)).encode())
                        s.quit()
                    except Exception as e:
                        errors.append(repr(e))
                threads = [threading.Thread(target=send, args=(i,)) for i in range(200)]
                for t in threads: t.start()
                for t in threads: t.join()
                print(len(errors), errors[:3])
                """
            let result = try await blocking { try Subprocess.python(script, ["\(server.port)"]) }
            #expect(result.stdout == "0 []\n", "\(result.stderr)")
            let delivered = await server.messages("carolyn")
            #expect(delivered.count == 200)
            let subjects = Set(delivered.compactMap { m in m.split(separator: "\n").first { $0.hasPrefix("Subject: ") } })
            #expect(subjects.count == 200)
            #expect(server.spooled.isEmpty)
        }
    }
}
