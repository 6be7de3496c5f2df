import Foundation
import MailCore
import TestSupport
import Testing

@testable import Postie

/// The admin API over real HTTP (curl), on a queue with a message that waits for a retry; then
/// schemathesis (PyPI) checks every answer against docs/openapi.yaml.
@Suite(.serialized) struct AdminAPITests {
    static let token = "api-test-token-0123456789"

    func call(_ method: String, _ url: String, token: String? = AdminAPITests.token) async throws -> (status: Int, json: [String: Any]) {
        let answer = try await Curl.request(url, method: method, token: token)
        return (answer.status, answer.json)
    }

    /// A server with one message for an exchanger that never answers (so it waits for a retry).
    func withDeferredMessage(_ body: (TestServer, String, String) async throws -> Void) async throws {
        try await withServer({ config in
            config.admin.listen = [.init(host: "127.0.0.1", port: 0)]
            config.admin.token = Self.token
            config.relay.trustedNetworks = [IPNetwork("127.0.0.1/32")!]
            config.relay.routes["remote.test"] = .init(host: "127.0.0.1", port: 1)
        }) { server in
            let sent = try await server.send(
                from: "a@xyz.com", to: ["friend@remote.test"], message: "From: a@xyz.com\r\nSubject: waiting\r\n\r\nbody\r\n")
            try #require(sent.status == 0, "\(sent.stderr)")
            let base = "http://127.0.0.1:\(try #require(server.server.adminAddresses.first?.port))"
            var id = ""
            for _ in 0..<100 {
                let page = try await call("GET", base + "/api/queue?state=deferred")
                if let messages = page.json["messages"] as? [[String: Any]], let first = messages.first, let i = first["id"] as? String {
                    id = i
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(!id.isEmpty, "the message never waited for a retry")
            try await body(server, base, id)
        }
    }

    @Test func queueOperations() async throws {
        try await withDeferredMessage { server, base, id in
            #expect(try await call("GET", base + "/api/queue", token: nil).status == 401)
            let all = try await call("GET", base + "/api/queue")
            #expect(all.status == 200 && all.json["total"] as? Int == 1)
            #expect(try await call("GET", base + "/api/queue?domain=remote.test").json["total"] as? Int == 1)
            #expect(try await call("GET", base + "/api/queue?domain=elsewhere.test").json["total"] as? Int == 0)
            #expect(try await call("GET", base + "/api/queue?older_than=3600").json["total"] as? Int == 0)
            let beyond = try await call("GET", base + "/api/queue?offset=1")
            #expect(beyond.json["messages"] as? [Any] != nil)
            #expect((beyond.json["messages"] as? [Any])?.isEmpty == true && beyond.json["total"] as? Int == 1, "\(beyond.json)")
            #expect(try await call("GET", base + "/api/queue?limit=0").status == 400)
            #expect(try await call("GET", base + "/api/queue?state=lost").status == 400)

            let shown = try await call("GET", base + "/api/queue/\(id)")
            #expect(shown.status == 200)
            #expect((shown.json["headers"] as? String)?.contains("Subject: waiting") == true, "\(shown.json)")
            #expect((shown.json["envelope"] as? String)?.contains("Postie-Envelope: 1") == true)
            #expect(try await call("GET", base + "/api/queue/NOSUCHID").status == 404)

            // Held: not tried, listed as held, flushing it does nothing; released: waiting again.
            #expect(try await call("POST", base + "/api/queue/\(id)/hold").status == 200)
            #expect(try await call("GET", base + "/api/queue?state=held").json["total"] as? Int == 1)
            #expect(try await call("POST", base + "/api/queue/\(id)/flush").status == 409)
            let envelope = try String(contentsOfFile: server.dataDirectory + "/spool/env/\(id)", encoding: .utf8)
            #expect(envelope.contains("Held: yes"), "held survives a restart: \(envelope)")
            #expect(try await call("POST", base + "/api/queue/\(id)/release").status == 200)
            #expect(try await call("POST", base + "/api/queue/\(id)/release").status == 409)
            #expect(try await call("POST", base + "/api/queue/\(id)/nonsense").status == 404)
            #expect(try await call("PUT", base + "/api/queue/\(id)").status == 405)

            #expect(try await call("POST", base + "/api/reload").status == 409, "a server given its configuration in code cannot reload")
            var deleted = (status: 0, json: [String: Any]())
            for _ in 0..<50 {
                // A delivery may be under way right after the release: 409 until it ends.
                deleted = try await call("DELETE", base + "/api/queue/\(id)")
                if deleted.status != 409 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(deleted.status == 200, "\(deleted.json)")
            #expect(try await call("GET", base + "/api/queue/\(id)").status == 404)
            #expect(try await call("GET", base + "/api/queue").json["total"] as? Int == 0)
        }
    }

    @Test(.enabled(if: AdminAPITests.hasSchemathesis, "needs schemathesis (pip)"))
    func everyAnswerMatchesTheOpenAPIDescription() async throws {
        try await withDeferredMessage { _, base, _ in
            let spec = TestPaths.packageRoot + "/docs/openapi.yaml"
            let run = try await blocking {
                try Subprocess.run(
                    [
                        "schemathesis", "run", spec, "--url", base, "-H", "Authorization: Bearer \(Self.token)", "--checks", "all",
                        "-n", "25", "--request-timeout", "10",
                    ], environment: ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { $1 })
            }
            #expect(run.status == 0, "schemathesis:\n\(run.stdout.suffix(6000))\n\(run.stderr.suffix(2000))")
            print("schemathesis: \(run.stdout.components(separatedBy: "\n").filter { $0.contains("passed") || $0.contains("failed") }.suffix(3).joined(separator: " | "))")
        }
    }

    static var hasSchemathesis: Bool {
        (try? Subprocess.run(["sh", "-c", "command -v schemathesis"]).status) == 0
    }
}
