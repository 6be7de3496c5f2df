import Foundation
import MailAuth
import MailCore
import Postie
import Testing
import TestSupport

/// Forwarded mail leaves with an SRS sender, and bounces to it find the original sender.
@Suite struct SRSForwardingTests {
    /// One SMTP transaction; the three-digit replies of MAIL, each RCPT, and DATA's end.
    func transaction(_ server: TestServer, from: String, to: [String]) async throws -> [String] {
        try await blocking {
            let c = try server.client()
            _ = c.readReply()
            c.send("EHLO remote.example\r\n")
            _ = c.readReply()
            c.send("MAIL FROM:<\(from)>\r\n")
            var replies = c.readReply()
            var accepted = 0
            for r in to {
                c.send("RCPT TO:<\(r)>\r\n")
                let reply = c.readReply()
                replies += reply
                if reply.last?.hasPrefix("250") == true { accepted += 1 }
            }
            if accepted > 0 {
                c.send("DATA\r\n")
                _ = c.readReply()
                c.send("From: <\(from.isEmpty ? "mailer-daemon@remote.example" : from)>\r\nSubject: srs\r\n\r\nbody\r\n.\r\n")
                replies += c.readReply()
            }
            c.send("QUIT\r\n")
            return replies.map { String($0.prefix(3)) }
        }
    }

    /// The address of a recorded message's MAIL FROM (without its parameters).
    static func envelopeSender(_ message: String) -> String? {
        message.split(separator: "\r\n").first { $0.hasPrefix("X-Envelope-From: ") }
            .flatMap { $0.dropFirst(17).split(separator: " ").first.map(String.init) }
    }

    @Test func forwardedCopiesGetAnSRSSenderAndBouncesToItReachTheOriginalSender() async throws {
        let fake = try await blocking { try FakeSMTPServer(mode: "accept", host: "127.0.0.12") }
        let server = try await TestServer { c in
            c.domains["xyz.com"]?.aliases["fwd"] = ["friend@remote.test"]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.12", port: fake.port)
            c.relay.routes["example.org"] = .init(host: "127.0.0.12", port: fake.port)
        }
        // A stranger writes to an alias that forwards, and to a local user.
        #expect(try await transaction(server, from: "alice@example.org", to: ["fwd@xyz.com", "bob@xyz.com"]) == ["250", "250", "250", "250"])
        #expect(try await eventually { fake.messages.count == 1 })
        let forwarded = fake.messages[0]
        let envelopeFrom = Self.envelopeSender(forwarded)
        // The postmaster domain (xyz.com) is the SRS domain; the secret was made at start.
        #expect(envelopeFrom?.hasPrefix("<SRS0=") == true, "\(forwarded.prefix(200))")
        #expect(envelopeFrom?.hasSuffix("=example.org=alice@xyz.com>") == true, "\(envelopeFrom ?? "")")
        let mode = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/srs.secret")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The local copy keeps the original sender.
        let local = await server.messages("bob")
        #expect(local.count == 1 && local[0].hasPrefix("Return-Path: <alice@example.org>"))

        // The remote side bounces to the SRS address: it is taken (from a stranger, with <>) and
        // relayed to alice.
        let srsAddress = String(envelopeFrom!.dropFirst().dropLast())
        #expect(try await transaction(server, from: "", to: [srsAddress]) == ["250", "250", "250"])
        #expect(try await eventually { fake.messages.count == 2 })
        let bounce = fake.messages.first { $0.contains("X-Envelope-To: <alice@example.org>") }
        #expect(bounce != nil, "\(fake.messages.map { $0.prefix(120) })")
        #expect(bounce.flatMap(Self.envelopeSender) == "<>")

        // A forged one (wrong hash), and one that is not SRS but in no local user: refused.
        let forged = srsAddress.replacingOccurrences(of: "SRS0=", with: "SRS0=x")
        let replies = try await transaction(server, from: "", to: [forged])
        #expect(replies == ["250", "550"])
        await server.stop()
    }

    @Test func ownSendersDirectMailAndNullSendersAreNotRewritten() async throws {
        let fake = try await blocking { try FakeSMTPServer(mode: "accept", host: "127.0.0.13") }
        let server = try await TestServer { c in
            c.domains["xyz.com"]?.aliases["fwd"] = ["friend@remote.test"]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.13", port: fake.port)
            c.relay.trustedNetworks = [IPNetworkParse("127.0.0.1/32")]
        }
        // Our own user through the alias; a trusted client straight to the remote; a bounce.
        _ = try await transaction(server, from: "carolyn@xyz.com", to: ["fwd@xyz.com"])
        _ = try await transaction(server, from: "alice@example.org", to: ["friend@remote.test"])
        _ = try await transaction(server, from: "", to: ["fwd@xyz.com"])
        #expect(try await eventually { fake.messages.count == 3 })
        let senders = fake.messages.compactMap(Self.envelopeSender).sorted()
        #expect(senders == ["<>", "<alice@example.org>", "<carolyn@xyz.com>"])
        await server.stop()
    }

    @Test func switchedOffNothingIsRewrittenAndNoSecretIsMade() async throws {
        let fake = try await blocking { try FakeSMTPServer(mode: "accept", host: "127.0.0.14") }
        let server = try await TestServer { c in
            c.srs.enabled = false
            c.domains["xyz.com"]?.aliases["fwd"] = ["friend@remote.test"]
            c.relay.routes["remote.test"] = .init(host: "127.0.0.14", port: fake.port)
        }
        _ = try await transaction(server, from: "alice@example.org", to: ["fwd@xyz.com"])
        #expect(try await eventually { fake.messages.count == 1 })
        #expect(Self.envelopeSender(fake.messages[0]) == "<alice@example.org>")
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/srs.secret"))
        await server.stop()
    }
}
