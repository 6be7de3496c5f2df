import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A spool written by an earlier version is recovered and delivered by this one.
/// `Tests/Fixtures/spool-0.9.0` was written by Postie 0.9.0 (commit 8e96088, before the delivery
/// redesign): three messages, each deferred once with its envelope updated in `env/` — one for a
/// remote domain, one for a local mailbox that could not be written, and one for both a local
/// mailbox (delivered) and the remote domain (deferred), 8-bit.
@Suite(.serialized) struct SpoolCompatibilityTests {
    @Test func aSpoolFromVersion090IsDeliveredAsItSays() async throws {
        let dir = try TestPaths.temporaryDirectory("spool-compat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestPaths.packageRoot + "/Tests/Fixtures/spool-0.9.0", toPath: dir + "/data/spool")
        let remote = try FakeSMTPServer(mode: "accept")
        let postie = try PostieProcess(
            directory: dir,
            relay: """
                trusted_networks = ["127.0.0.1/32"]
                routes = { "remote.test" = "127.0.0.1:\(remote.port)" }
                """)
        try postie.start()
        // Whenever their next attempts (in the fixture) fall, a flush tries them now (once the
        // control socket, made after recovery, answers).
        #expect(try await eventually(10) {
            (try? Subprocess.run([TestPaths.postieBinary, "queue", "flush", "--config", postie.configPath]))?.status == 0
        })
        #expect(try await eventually(30) { remote.messageCount == 2 && postie.delivered("carolyn").count == 1 })
        #expect(try await eventually(30) { postie.spooled.isEmpty })
        postie.process.signal(SIGTERM)
        #expect(postie.process.waitForExit(timeout: 30) == 0)

        let relayed = remote.messages
        #expect(relayed.count == 2)
        let first = relayed.first { $0.contains("Message-ID: <fixture-1@client.example>") }
        #expect(first?.contains("X-Envelope-From: <alice@client.example>") == true)
        #expect(first?.contains("X-Envelope-To: <r@remote.test>") == true)
        #expect(first?.hasSuffix("\r\nwaiting for remote.test\r\n.. a line that began with a dot\r\n") == true, "\(first ?? "")")
        let mixed = relayed.first { $0.contains("Message-ID: <fixture-3@client.example>") }
        #expect(mixed?.contains("BODY=8BITMIME") == true, "8BITMIME is kept from the old envelope")
        #expect(mixed?.hasSuffix("remote.test waits: grüße\r\n") == true)
        #expect(mixed?.contains("X-Envelope-To: <bob@xyz.com>") == false, "bob had it already")
        // bob's copy was delivered by 0.9.0 (in its Maildir, not here): not delivered again.
        #expect(postie.delivered("bob").isEmpty)
        let local = postie.delivered("carolyn").first
        #expect(local?.contains("Message-ID: <fixture-2@client.example>") == true)
        #expect(local?.hasPrefix("Return-Path: <alice@client.example>") == true)
        let quarantined = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/data/spool/quarantine")) ?? []
        #expect(quarantined.isEmpty)
    }
}
