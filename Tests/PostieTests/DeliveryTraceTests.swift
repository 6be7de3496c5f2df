import Foundation
import MailCore
import TestSupport
import Testing

@testable import Postie

/// Every relay attempt keeps its dialogue with the message: a server that defers at first, then
/// takes the mail; the admin API (and so `postie trace`) shows both attempts, without the message.
@Suite(.serialized) struct DeliveryTraceTests {
    func get(_ url: String) async throws -> [String: Any] { try await Curl.request(url).json }

    @Test func eachAttemptsDialogueIsKept() async throws {
        let remote = try await blocking { try FakeSMTPServer(mode: "defer-first", host: "127.0.0.17") }
        try await withServer({ config in
            config.admin.listen = [.init(host: "127.0.0.1", port: 0)]
            config.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]
            config.relay.routes["remote.test"] = .init(host: "127.0.0.17", port: remote.port)
        }) { server in
            let sent = try await server.send(from: "a@xyz.com", to: ["friend@remote.test"], message: "Subject: traced\r\n\r\nTOPSECRETBODY\r\n")
            try #require(sent.status == 0, "\(sent.stderr)")
            let base = "http://127.0.0.1:\(try #require(server.server.adminAddresses.first?.port))"
            var id = ""
            for _ in 0..<100 where id.isEmpty {
                let page = try await get(base + "/api/queue?state=deferred")
                id = ((page["messages"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
                if id.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
            try #require(!id.isEmpty, "the first attempt never deferred")
            let flushed = try await Curl.request(base + "/api/queue/\(id)/flush", method: "POST")
            #expect(flushed.body.contains(#""ok":true"#), "\(flushed.body)")
            #expect(try await eventually { remote.messages.count == 1 })
            var attempts: [String] = []
            for _ in 0..<50 {
                attempts = (try await get(base + "/api/queue/\(id)/attempts"))["attempts"] as? [String] ?? []
                if attempts.count == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(attempts.count == 2, "\(attempts)")
            #expect(attempts[0].contains("to 127.0.0.17[127.0.0.17]:\(remote.port)"), "\(attempts[0])")
            #expect(attempts[0].contains("C: RCPT TO:<friend@remote.test>"))
            #expect(attempts[0].contains("S: 451 4.3.0 try again later"), "\(attempts[0])")
            #expect(attempts[1].contains("S: 250"))
            #expect(attempts[1].contains("octets, not kept"), "\(attempts[1])")
            #expect(attempts.allSatisfy { !$0.contains("TOPSECRETBODY") && !$0.contains("Subject: traced") })
            // It outlives the message (which is gone now), for [queue] trace_retention.
            #expect(server.spooled.isEmpty)
        }
    }
}
