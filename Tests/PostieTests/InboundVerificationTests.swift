import Foundation
import MailAuth
import MailCore
import Postie
import TestSupport
import Testing

/// The checks of strangers' mail through the real listener, with the tests' DNS server serving
/// SPF, DKIM and DMARC records: results added, forged results removed, DMARC enforced when asked.
@Suite(.serialized) struct InboundVerificationTests {
    static let key = try! DKIMKey(ed25519Seed: Array(repeating: 9, count: 32))

    static var zone: [String: Any] {
        [
            // Our test client connects from 127.0.0.1.
            "sender.test": ["TXT": ["v=spf1 ip4:127.0.0.1 -all"]],
            "_dmarc.sender.test": ["TXT": ["v=DMARC1; p=reject"]],
            "s1._domainkey.sender.test": ["TXT": [key.record]],
            "bank.test": ["TXT": ["v=spf1 -all"]],
            "_dmarc.bank.test": ["TXT": ["v=DMARC1; p=reject"]],
            "shop.test": ["TXT": ["v=spf1 -all"]],
            "_dmarc.shop.test": ["TXT": ["v=DMARC1; p=quarantine"]],
        ]
    }

    /// A message, DKIM-signed by sender.test when asked.
    static func message(from: String, subject: String, extraHeader: String = "", body: String = "Hello.\r\n", signed: Bool) -> String {
        let text = "From: <\(from)>\r\nTo: carolyn@xyz.com\r\nSubject: \(subject)\r\n\(extraHeader)\r\n" + body
        guard signed else { return text }
        var signer = MessageSigner(keys: { _ in [DKIMSigner(domain: "sender.test", selector: "s1", key: key)] })
        signer.update(Array(text.utf8))
        let fields = try! signer.finish(time: Int64(Date().timeIntervalSince1970)).get()
        return String(decoding: fields, as: UTF8.self) + text
    }

    /// Sends one message with smtplib; prints the code each step got.
    func send(_ port: Int, from: String, message: String) async throws -> String {
        try await blocking {
            try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                s.ehlo('client.sender.test')
                s.mail(sys.argv[2])
                code, _ = s.rcpt('carolyn@xyz.com')
                if code != 250:
                    print('rcpt', code); sys.exit(0)
                code, text = s.data(sys.stdin.read().replace('\\n', '\\r\\n').replace('\\r\\r\\n', '\\r\\n').encode())
                print('data', code, text.decode())
                s.quit()
                """, ["\(port)", from], stdin: message
            ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func withVerifyingServer(_ adjust: @escaping (inout PostieConfiguration) -> Void = { _ in }, _ body: (TestServer) async throws -> Void) async throws {
        nonisolated(unsafe) let zone = Self.zone
        let dns = try await blocking { try TestDNSServer(zone: zone) }
        try await withServer({ config in
            config.verify.enabled = true
            config.relay.dnsServer = .init(host: "127.0.0.1", port: dns.port)
            adjust(&config)
        }, body)
        withExtendedLifetime(dns) {}
    }

    @Test func aGoodMessageArrivesWithResultsAndForgedOnesAreRemoved() async throws {
        try await withVerifyingServer { server in
            let forged = "Authentication-Results: mx.test; dkim=pass header.d=bank.test\r\n"
                + "Authentication-Results: MX.TEST;\r\n\tspf=pass\r\n"
                + "Authentication-Results: elsewhere.example; spf=fail\r\n"
            let reply = try await send(
                server.port, from: "alice@sender.test", message: Self.message(from: "alice@sender.test", subject: "good", extraHeader: forged, signed: true))
            #expect(reply.hasPrefix("data 250"), "\(reply)")
            let delivered = await server.messages("carolyn")
            try #require(delivered.count == 1)
            let m = delivered[0].replacing("\n", with: "\r\n")
            #expect(m.contains("Authentication-Results: mx.test;\r\n\tspf=pass smtp.mailfrom=sender.test;\r\n\tdkim=pass header.d=sender.test header.s=s1"), "\(m)")
            #expect(m.contains("dmarc=pass (p=reject dis=none) header.from=sender.test;\r\n\tarc=none\r\n"), "\(m)")
            // Exactly one claims our name: ours.
            #expect(m.components(separatedBy: "Authentication-Results: mx.test;").count == 2)
            #expect(!m.contains("MX.TEST"))
            #expect(!m.contains("header.d=bank.test"))
            #expect(m.contains("Authentication-Results: elsewhere.example; spf=fail"), "another host's results are not ours to remove")
        }
    }

    /// A message too large for memory streams to its spool file behind room left for the results;
    /// they fill it (with a filler field for the rest) and the message arrives whole.
    @Test func aStreamedMessageGetsItsResultsToo() async throws {
        let body = String(repeating: "A line of a long message, long enough to stream.\r\n", count: 12_000)
        try await withVerifyingServer { server in
            let forged = "Authentication-Results: mx.test; dmarc=pass header.from=bank.test\r\n"
            let reply = try await send(
                server.port, from: "alice@sender.test",
                message: Self.message(from: "alice@sender.test", subject: "long", extraHeader: forged, body: body, signed: true))
            #expect(reply.hasPrefix("data 250"), "\(reply)")
            let delivered = await server.messages("carolyn")
            try #require(delivered.count == 1)
            let m = delivered[0].replacing("\n", with: "\r\n")
            #expect(
                m.hasPrefix("Return-Path: <alice@sender.test>\r\nAuthentication-Results: mx.test;\r\n\tspf=pass smtp.mailfrom=sender.test;\r\n\tdkim=pass"),
                "\(m.prefix(600))")
            #expect(m.contains("X-Postie-Filler: "), "the rest of the room")
            #expect(m.contains("dmarc=pass (p=reject dis=none) header.from=sender.test"))
            #expect(!m.contains("header.from=bank.test"))
            #expect(m.hasSuffix(body), "the body arrives whole")
        }
    }

    @Test func aSpoofedRejectDomainIsMarkedOrRefusedWhenEnforcing() async throws {
        let spoof = Self.message(from: "ceo@bank.test", subject: "wire the money", signed: false)
        try await withVerifyingServer { server in
            let reply = try await send(server.port, from: "attacker@elsewhere.test", message: spoof)
            #expect(reply.hasPrefix("data 250"), "not enforcing: accepted and marked: \(reply)")
            let delivered = await server.messages("carolyn")
            try #require(delivered.count == 1)
            #expect(delivered[0].contains("dmarc=fail (p=reject dis=reject) header.from=bank.test"), "\(delivered[0])")
        }
        try await withVerifyingServer({ $0.verify.enforce = true }) { server in
            let reply = try await send(server.port, from: "attacker@elsewhere.test", message: spoof)
            #expect(reply.hasPrefix("data 550 5.7.1"), "\(reply)")
            #expect(reply.contains("bank.test"))
            #expect(await server.messages("carolyn").isEmpty)
            #expect(server.spooled.isEmpty)
        }
    }

    /// A domain that marks only, under a server that enforces: its recipients get the message
    /// (marked); one that enforces under a server that marks refuses it.
    @Test func aDomainChoosesForItself() async throws {
        let spoof = Self.message(from: "ceo@bank.test", subject: "per domain", signed: false)
        try await withVerifyingServer({ $0.verify.enforce = true; $0.verify.byDomain["xyz.com"] = false }) { server in
            let reply = try await send(server.port, from: "attacker@elsewhere.test", message: spoof)
            #expect(reply.hasPrefix("data 250"), "\(reply)")
            #expect(await server.messages("carolyn").count == 1)
        }
        try await withVerifyingServer({ $0.verify.byDomain["xyz.com"] = true }) { server in
            let reply = try await send(server.port, from: "attacker@elsewhere.test", message: spoof)
            #expect(reply.hasPrefix("data 550 5.7.1"), "\(reply)")
        }
    }

    @Test func aQuarantineDomainGoesToJunk() async throws {
        try await withVerifyingServer({ $0.verify.enforce = true }) { server in
            let reply = try await send(server.port, from: "x@elsewhere.test", message: Self.message(from: "deals@shop.test", subject: "deal", signed: false))
            #expect(reply.hasPrefix("data 250"), "\(reply)")
            #expect(await server.messages("carolyn").isEmpty)
            let junk = "\(server.mailRoot)/xyz.com/carolyn/.Junk"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: junk + "/new")) ?? []
            try #require(names.count == 1)
            let m = try String(contentsOfFile: junk + "/new/" + names[0], encoding: .utf8)
            #expect(m.contains("X-Spam-Flag: YES"))
            #expect(m.contains("dmarc=fail (p=quarantine dis=quarantine) header.from=shop.test"))
            #expect(FileManager.default.fileExists(atPath: junk + "/maildirfolder"))
        }
    }

    @Test func anSPFFailIsRefusedAtRCPTOnlyWhenAsked() async throws {
        let message = Self.message(from: "ceo@bank.test", subject: "spf", signed: false)
        try await withVerifyingServer({ $0.verify.enforce = true; $0.verify.spfFail = .reject }) { server in
            let reply = try await send(server.port, from: "ceo@bank.test", message: message)
            #expect(reply == "rcpt 550", "\(reply)")
        }
    }

    @Test func trustedNetworksAreNotChecked() async throws {
        try await withVerifyingServer({ $0.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]; $0.verify.enforce = true }) { server in
            let reply = try await send(server.port, from: "ceo@bank.test", message: Self.message(from: "ceo@bank.test", subject: "ours", signed: false))
            #expect(reply.hasPrefix("data 250"), "\(reply)")
            let delivered = await server.messages("carolyn")
            try #require(delivered.count == 1)
            #expect(!delivered[0].contains("Authentication-Results"))
        }
    }
}
