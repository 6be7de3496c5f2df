import NIOPosix
import SMTPNIO
import TestSupport
import Testing

@Suite(.serialized) struct DNSResolverTests {
    static var zone: [String: Any] {
        [
        "example.test": ["MX": [[20, "mx2.example.test"], [10, "mx1.example.test"]]],
        "mx1.example.test": ["A": ["127.0.0.2"], "AAAA": ["::1"]],
        "nomx.test": ["A": ["127.0.0.3"]],
        "nullmx.test": ["MX": [[0, "."]]],
        // Two records; the second longer than one string holds (served as several, joined here).
        "txt.example.test": ["TXT": ["v=spf1 -all", String(repeating: "k", count: 300), ["split ", "in ", "three"]]],
        "gone.test": "NXDOMAIN",
        "broken.test": "SERVFAIL",
        ]
    }

    func withResolver(_ body: (SystemDNSResolver) async throws -> Void) async throws {
        let dns = try TestDNSServer(zone: Self.zone)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let resolver = SystemDNSResolver(
            configuration: .init(server: "127.0.0.1", port: dns.port, timeout: 1, attempts: 1), threadPool: pool)
        do {
            try await body(resolver)
        } catch {
            try await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
        _ = dns
    }

    @Test func mxRecords() async throws {
        try await withResolver { r in
            let mx = try await r.mx("example.test")
            #expect(Set(mx) == [MXRecord(preference: 10, exchange: "mx1.example.test"), MXRecord(preference: 20, exchange: "mx2.example.test")])
            let none = try await r.mx("nomx.test")
            #expect(none == [])
            let null = try await r.mx("nullmx.test")
            #expect(null == [MXRecord(preference: 0, exchange: "")])
        }
    }

    @Test func addresses() async throws {
        try await withResolver { r in
            let both = try await r.addresses("mx1.example.test")
            #expect(both == ["::1", "127.0.0.2"])
            let v4 = try await r.addresses("nomx.test")
            #expect(v4 == ["127.0.0.3"])
            let none = try await r.addresses("example.test")
            #expect(none == [])
        }
    }

    @Test func txtRecordsHaveTheirStringsJoined() async throws {
        try await withResolver { r in
            let records = try await r.txt("txt.example.test").map { String(decoding: $0, as: UTF8.self) }
            #expect(Set(records) == ["v=spf1 -all", String(repeating: "k", count: 300), "split in three"])
            #expect(try await r.txt("example.test") == [])
        }
    }

    @Test func failures() async throws {
        try await withResolver { r in
            do {
                _ = try await r.mx("gone.test")
                Issue.record("NXDOMAIN answered")
            } catch {
                #expect(error as? DNSError == .nameNotFound("gone.test"))
            }
            do {
                _ = try await r.mx("broken.test")
                Issue.record("SERVFAIL answered")
            } catch {
                if case .temporary = error as? DNSError {} else { Issue.record("SERVFAIL must be temporary: \(error)") }
            }
            do {
                _ = try await r.addresses("gone.test")
                Issue.record("NXDOMAIN answered")
            } catch {
                #expect(error as? DNSError == .nameNotFound("gone.test"))
            }
        }
    }

    @Test func unansweredServerIsTemporary() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // A port where nothing listens: the query times out (or is refused); either way, temporary.
        let r = SystemDNSResolver(configuration: .init(server: "127.0.0.1", port: 9, timeout: 1, attempts: 1), threadPool: pool)
        do {
            _ = try await r.mx("example.test")
            Issue.record("answered")
        } catch {
            if case .temporary = error {} else { Issue.record("must be temporary: \(error)") }
        }
        try await pool.shutdownGracefully()
    }
}
