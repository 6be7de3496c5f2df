import MailCore
import NIOPosix
import Synchronization
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
        "4.3.2.1.in-addr.arpa": ["PTR": ["host.example.test", "other.example.test."]],
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": ["PTR": ["v6.example.test"]],
        "alias.example.test": ["CNAME": "mx1.example.test"],
        // Larger than a UDP answer without EDNS (512 octets): asked again over TCP.
        "big.example.test": ["TXT": [String(repeating: "0123456789", count: 150)]],
        "short.example.test": ["A": ["127.0.0.9"], "TTL": 5],
        "gone.test": "NXDOMAIN",
        "broken.test": "SERVFAIL",
        ]
    }

    func withResolver(
        now: @escaping @Sendable () -> Double = { 0 }, _ body: (SystemDNSResolver) async throws -> Void
    ) async throws {
        var dns: TestDNSServer? = try await blocking { try TestDNSServer(zone: Self.zone) }
        try await withResolver(server: &dns, now: now) { r, _ in try await body(r) }
    }

    /// The server is handed in and out so that a test can stop it and see what the cache answers.
    func withResolver(
        server dns: inout TestDNSServer?, now: @escaping @Sendable () -> Double,
        _ body: (SystemDNSResolver, inout TestDNSServer?) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let resolver = SystemDNSResolver(
            configuration: .init(server: "127.0.0.1", port: dns!.port, timeout: 1, attempts: 1), threadPool: pool, now: now)
        do {
            try await body(resolver, &dns)
        } catch {
            try await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
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

    @Test func pointersAndAliases() async throws {
        try await withResolver { r in
            let v4 = try await r.ptr([1, 2, 3, 4])
            #expect(Set(v4) == ["host.example.test", "other.example.test"])
            let v6 = try await r.ptr(IPNetwork.parseAddress("2001:db8::1")!)
            #expect(v6 == ["v6.example.test"])
            await #expect(throws: DNSError.nameNotFound("5.3.2.1.in-addr.arpa")) { try await r.ptr([1, 2, 3, 5]) }
        }
    }

    @Test func truncatedAnswersAreAskedAgainOverTCP() async throws {
        try await withResolver { r in
            let records = try await r.txt("big.example.test")
            #expect(records == [Array(String(repeating: "0123456789", count: 150).utf8)])
        }
    }

    @Test func aliasesAreFollowed() async throws {
        try await withResolver { r in
            let v4 = try await r.ipv4("alias.example.test")
            #expect(v4 == [[127, 0, 0, 2]])
        }
    }

    @Test func namesDNSCannotCarryDoNotExist() async throws {
        try await withResolver { r in
            for name in [String(repeating: "a", count: 64) + ".test", "a..test", String(repeating: "abc.", count: 70) + "test"] {
                do {
                    _ = try await r.txt(name)
                    Issue.record("answered for \(name)")
                } catch {
                    #expect(error as? DNSError == .nameNotFound(name))
                }
            }
        }
    }

    /// Answers live as long as their TTL says, negative ones as long as their SOA says (the test
    /// server's: 30 s), failures not at all; the clock is virtual, and the server is stopped to
    /// show that an answer came from the cache.
    @Test func cacheHonoursTTLs() async throws {
        let clock = Mutex<Double>(1000)
        var dns: TestDNSServer? = try await blocking { try TestDNSServer(zone: Self.zone) }
        try await withResolver(server: &dns, now: { clock.withLock { $0 } }) { r, dns in
            let first = try await r.ipv4("short.example.test")
            #expect(first == [[127, 0, 0, 9]])
            let long = try await r.mx("example.test")
            #expect(long.count == 2)
            let noData = try await r.txt("example.test")
            #expect(noData == [])
            await #expect(throws: DNSError.nameNotFound("gone.test")) { try await r.mx("gone.test") }
            await #expect(throws: DNSError.self) { try await r.mx("broken.test") }
            #expect(r.cachedAnswers == 4)

            dns = nil  // stops the server
            clock.withLock { $0 += 4 }
            let cached = try await r.ipv4("short.example.test")
            #expect(cached == [[127, 0, 0, 9]])
            await #expect(throws: DNSError.nameNotFound("gone.test")) { try await r.mx("gone.test") }

            clock.withLock { $0 += 2 }  // 6 s: past the 5 s TTL, within the others
            await #expect(throws: DNSError.self) { try await r.ipv4("short.example.test") }
            let stillCached = try await r.mx("example.test")
            #expect(stillCached.count == 2)

            clock.withLock { $0 += 25 }  // 31 s: negative answers are gone, the 60 s ones stay
            await #expect(throws: DNSError.self) { try await r.txt("example.test") }
            do {
                _ = try await r.mx("gone.test")
                Issue.record("an expired negative answer was kept")
            } catch {
                if case .temporary? = error as? DNSError {} else { Issue.record("expected no answer, got \(error)") }
            }
            let longLived = try await r.mx("example.test")
            #expect(longLived.count == 2)
        }
    }
}
