import Foundation
import AdminHTTP
import NIOCore
import NIOEmbedded
import TestSupport
import Testing

@testable import Postie

/// The admin listener's answers, pure and live: metrics after real traffic (checked by promtool
/// and scraped by a real Prometheus), the probes, and the token.
@Suite(.serialized) struct AdminTests {
    static func service(token: String? = nil, ready: Bool = true) -> AdminService {
        AdminService(
            token: token, metrics: { Array("postie_x_total 1\n".utf8) },
            readiness: { .init(checks: [("listening", ready, "detail")]) })
    }

    @Test func routesProbesAndTheToken() async {
        let open = Self.service()
        #expect(await open.respond(AdminRequest(method: "GET", uri: "/metrics")).status == 200)
        #expect(await open.respond(AdminRequest(method: "GET", uri: "/metrics")).contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(await open.respond(AdminRequest(method: "POST", uri: "/metrics")).status == 405)
        #expect(await open.respond(AdminRequest(method: "GET", uri: "/nothing")).status == 404)
        #expect(await open.respond(AdminRequest(method: "GET", uri: "/healthz")).status == 200)
        let notReady = await Self.service(ready: false).respond(AdminRequest(method: "GET", uri: "/readyz?verbose=1"))
        #expect(notReady.status == 503)
        #expect(String(decoding: notReady.body, as: UTF8.self).contains(#""ready":false"#))

        let guarded = Self.service(token: "0123456789abcdef-secret")
        let denied = await guarded.respond(AdminRequest(method: "GET", uri: "/metrics"))
        #expect(denied.status == 401)
        #expect(!String(decoding: denied.body, as: UTF8.self).contains("postie_"))
        let wrong = await guarded.respond(AdminRequest(method: "GET", uri: "/metrics", headers: ["authorization": "Bearer 0123456789abcdef-secreT"]))
        #expect(wrong.status == 401)
        let right = await guarded.respond(AdminRequest(method: "GET", uri: "/metrics", headers: ["authorization": "Bearer 0123456789abcdef-secret"]))
        #expect(right.status == 200)
        // The probes answer without it (load balancers and orchestrators do not carry tokens).
        #expect(await guarded.respond(AdminRequest(method: "GET", uri: "/readyz")).status == 200)
    }

    @Test func routesAreDecidedFromMethodPathAndQuery() {
        let table: [(String, String, AdminRoute)] = [
            ("GET", "/metrics", .metrics), ("HEAD", "/metrics", .metrics), ("POST", "/metrics", .notAllowed(allow: "GET, HEAD")),
            ("GET", "/livez", .health), ("GET", "/readyz?x=1", .ready), ("DELETE", "/healthz", .notAllowed(allow: "GET")),
            ("GET", "/api/queue", .queueList(.init())),
            ("GET", "/api/queue?state=held&domain=EXAMPLE.com&limit=5&offset=10&older_than=60",
             .queueList(.init(state: "held", domain: "example.com", olderThan: 60, offset: 10, limit: 5))),
            ("GET", "/api/queue?state=lost", .badRequest("state must be pending, deferred or held")),
            ("GET", "/api/queue?limit=0", .badRequest("offset, limit (1-1000) and older_than are whole numbers")),
            ("GET", "/api/queue?offset=-1", .badRequest("offset, limit (1-1000) and older_than are whole numbers")),
            ("PUT", "/api/queue", .notAllowed(allow: "GET")),
            ("POST", "/api/queue/flush", .flushAll), ("GET", "/api/queue/flush", .notAllowed(allow: "POST")),
            ("GET", "/api/queue/ABC", .show(id: "ABC")), ("DELETE", "/api/queue/ABC", .delete(id: "ABC")),
            ("POST", "/api/queue/ABC", .notAllowed(allow: "GET, DELETE")),
            ("GET", "/api/queue/ABC/attempts", .attempts(id: "ABC")), ("POST", "/api/queue/ABC/attempts", .notAllowed(allow: "GET")),
            ("POST", "/api/queue/ABC/hold", .act(.hold, id: "ABC")), ("POST", "/api/queue/ABC/release", .act(.release, id: "ABC")),
            ("GET", "/api/queue/ABC/hold", .notAllowed(allow: "POST")), ("POST", "/api/queue/ABC/explode", .notFound),
            ("POST", "/api/reload", .reload), ("GET", "/api/reload", .notAllowed(allow: "POST")),
            ("GET", "/api/queue/A/B/C", .notFound), ("GET", "/api", .notFound), ("GET", "/", .notFound),
        ]
        for (method, uri, route) in table {
            #expect(AdminRoute(AdminRequest(method: method, uri: uri)) == route, "\(method) \(uri)")
        }
    }

    /// The listener's connections on SwiftNIO's embedded channel, its clock virtual: past the
    /// limit a new one is closed as it opens, a closed one frees its place, and one that sends
    /// nothing for the idle timeout is closed, not before.
    @Test func connectionsAreBoundedAndIdleOnesClosed() throws {
        let gate = AdminConnectionGate(limit: 2)
        func connection() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try AdminHTTPServer.configure(
                channel.pipeline.syncOperations, gate: gate, idleTimeout: .seconds(60), respond: { _ in AdminResponse(status: 200, body: []) })
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9025)).wait()
            return channel
        }
        let a = try connection()
        let b = try connection()
        #expect(a.isActive && b.isActive && gate.count == 2)
        let c = try connection()
        #expect(!c.isActive, "one past the limit")
        #expect(gate.count == 2)
        try a.close().wait()
        #expect(gate.count == 1)
        let d = try connection()
        #expect(d.isActive)

        d.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(d.isActive)
        d.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!d.isActive, "idle for the timeout")
        #expect(gate.count == 1)

        // Anything read restarts the clock: half a request at 30 s keeps it open until 90 s.
        let e = try connection()
        e.embeddedEventLoop.advanceTime(by: .seconds(30))
        try e.writeInbound(ByteBuffer(string: "GET /metr"))
        e.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(e.isActive, "61 s after opening, 31 s after its last octet")
        e.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(!e.isActive)
        _ = try? b.finish()
    }

    @Test func queryStringsAreDecoded() {
        let r = AdminRequest(method: "GET", uri: "/api/queue?state=deferred&domain=ex%41mple.com&q=a+b&bad=%zz&signed=%+1&short=%4")
        #expect(r.path == "/api/queue")
        #expect(r.query == ["state": "deferred", "domain": "exAmple.com", "q": "a b", "bad": "%zz", "signed": "% 1", "short": "%4"])
    }

    func curl(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
        let answer = try await Curl.request(url, token: token)
        return (answer.status, answer.body)
    }

    func send(_ port: Int, count: Int) async throws {
        let sent = try await blocking {
            try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                for i in range(int(sys.argv[2])):
                    s.sendmail('a@client.example', ['carolyn@xyz.com'], b'Subject: m\\r\\n\\r\\nbody\\r\\n')
                try:
                    s.sendmail('a@client.example', ['nobody@xyz.com'], b'Subject: m\\r\\n\\r\\nbody\\r\\n')
                except smtplib.SMTPRecipientsRefused:
                    pass
                s.quit()
                """, ["\(port)", "\(count)"])
        }
        #expect(sent.status == 0, "\(sent.stderr)")
    }

    @Test func metricsCountRealTrafficAndPromtoolAcceptsThem() async throws {
        try await withServer({ $0.admin.listen = [.init(host: "127.0.0.1", port: 0)] }) { server in
            let admin = try #require(server.server.adminAddresses.first?.port)
            try await send(server.port, count: 3)
            _ = await server.messages("carolyn")
            let (status, text) = try await curl("http://127.0.0.1:\(admin)/metrics")
            #expect(status == 200)
            #expect(text.contains("postie_messages_received_total 3"), "\(text)")
            #expect(text.contains(#"postie_recipients_total{result="accepted",reason="accepted"} 3"#), "\(text)")
            #expect(text.contains(#"postie_recipients_total{result="refused",reason="unknown_user"} 1"#))
            #expect(text.contains(#"postie_deliveries_total{target="maildir",result="sent"} 3"#))
            #expect(text.contains(#"postie_smtp_connections_total{listener="smtp",outcome="accepted"} 1"#))
            #expect(text.contains("# HELP postie_queue_messages"))
            #expect(text.contains(#"postie_smtp_replies_total{class="5xx",enhanced="5.1.1"} 1"#), "\(text)")
            #expect(text.contains(#"postie_smtp_replies_total{class="2xx",enhanced="2.0.0"}"#))
            #expect(text.contains("postie_spool_commit_seconds_count"))
            #expect(text.contains(#"postie_delivery_attempt_seconds_count{target="maildir"} 3"#), "\(text)")
            // Never an address in a label.
            #expect(!text.contains("client.example") && !text.contains("127.0.0.1") && !text.contains("carolyn"))
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
                let checked = try await blocking { try Subprocess.run(["promtool", "check", "metrics"], stdin: text + "\n") }
                #expect(checked.status == 0, "promtool: \(checked.stdout) \(checked.stderr)")
            }
            let ready = try await curl("http://127.0.0.1:\(admin)/readyz")
            #expect(ready.status == 200)
            #expect(ready.body.contains(#""ready":true"#), "\(ready.body)")
        }
    }

    @Test func commandsAndLimitsAreCounted() async throws {
        try await withServer({
            $0.admin.listen = [.init(host: "127.0.0.1", port: 0)]
            $0.smtp.limits.maxRecipients = 1
        }) { server in
            let admin = try #require(server.server.adminAddresses.first?.port)
            let port = server.port
            let closed = try await blocking {
                let c = try LineClient(port: port)
                _ = c.readReply()
                c.send(
                    "EHLO c\r\nXYZZY\r\nMAIL FROM:bad\r\nMAIL FROM:<a@client.example> SIZE=99999999999\r\n"
                        + "MAIL FROM:<a@client.example>\r\nRCPT TO:<carolyn@xyz.com>\r\nRCPT TO:<bob@xyz.com>\r\nRSET\r\nQUIT\r\n")
                return c.waitForClose()
            }
            #expect(closed)
            let (status, text) = try await curl("http://127.0.0.1:\(admin)/metrics")
            #expect(status == 200)
            for (verb, count) in [("EHLO", 1), ("MAIL", 3), ("RCPT", 2), ("RSET", 1), ("QUIT", 1), ("unknown", 1), ("DATA", 0)] {
                #expect(text.contains(#"postie_smtp_commands_total{verb="\#(verb)"} \#(count)"#), "\(verb) \(count): \(text)")
            }
            for (limit, count) in [("message_size", 1), ("recipients", 1), ("line_length", 0), ("connections", 0), ("auth_failures", 0)] {
                #expect(text.contains(#"postie_limits_hit_total{limit="\#(limit)"} \#(count)"#), "\(limit) \(count)")
            }
        }
    }

    @Test func aTokenGuardsEverythingButTheProbes() async throws {
        let directory = try TestPaths.temporaryDirectory("admin-token")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = "s3cret-token-of-some-length"
        try await withServer({
            $0.admin.listen = [.init(host: "127.0.0.1", port: 0)]
            $0.admin.token = token
        }) { server in
            let admin = try #require(server.server.adminAddresses.first?.port)
            let denied = try await curl("http://127.0.0.1:\(admin)/metrics")
            #expect(denied.status == 401)
            #expect(denied.body.contains("unauthorized") && !denied.body.contains("postie_"))
            #expect(try await curl("http://127.0.0.1:\(admin)/metrics", token: token).status == 200)
            #expect(try await curl("http://127.0.0.1:\(admin)/healthz").status == 200)
        }
    }

    /// A real Prometheus (Debian's) scrapes Postie once a second; its HTTP API then says the target
    /// is up and shows the counter that the messages moved.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus"), "needs prometheus"))
    func aRealPrometheusScrapesIt() async throws {
        let directory = try TestPaths.temporaryDirectory("prometheus")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withServer({ $0.admin.listen = [.init(host: "127.0.0.1", port: 0)] }) { server in
            let admin = try #require(server.server.adminAddresses.first?.port)
            try await send(server.port, count: 2)
            _ = await server.messages("carolyn")
            let web = try TestPaths.freePort()
            try """
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: postie
                    static_configs:
                      - targets: ["127.0.0.1:\(admin)"]
                """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
            let prometheus = try await blocking {
                try RunningProcess([
                    "/usr/bin/prometheus", "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                    "--web.listen-address=127.0.0.1:\(web)",
                ])
            }
            defer {
                prometheus.signal(SIGTERM)
                _ = prometheus.waitForExit(timeout: 20)
            }
            func query(_ q: String) async throws -> String {
                let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
                return try await curl("http://127.0.0.1:\(web)/api/v1/query?query=\(encoded)").body
            }
            var up = false
            for _ in 0..<120 {
                if (try? await query("up{job=\"postie\"}"))?.contains(#","1"]"#) == true {
                    up = true
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(up, "Prometheus never saw the target up")
            let received = try await query("postie_messages_received_total")
            #expect(received.contains(#","2"]"#), "\(received)")
        }
    }
}
