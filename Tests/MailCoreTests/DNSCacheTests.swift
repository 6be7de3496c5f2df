import MailCore
import Testing

@Suite struct DNSCacheTests {
    typealias Cache = DNSCache<[String]>

    @Test func entriesLiveForTheirTTL() {
        var cache = Cache()
        let key = Cache.Key(name: "Example.TEST.", type: .txt)
        cache.store(.records(["v=spf1 -all"]), for: key, ttl: 60, now: 100)
        guard case .records(let r)? = cache.lookup(Cache.Key(name: "example.test", type: .txt), now: 159.9) else {
            Issue.record("names compare without case and trailing dot")
            return
        }
        #expect(r == ["v=spf1 -all"])
        #expect(cache.lookup(key, now: 160) == nil)
        #expect(cache.count == 0)
        #expect(cache.lookup(Cache.Key(name: "example.test", type: .mx), now: 100) == nil)
    }

    @Test func zeroTTLKeepsNothingAndLongTTLsAreCapped() {
        var cache = Cache(maximumTTL: 3600)
        let key = Cache.Key(name: "a.test", type: .a)
        cache.store(.noData, for: key, ttl: 0, now: 0)
        #expect(cache.count == 0)
        cache.store(.nameNotFound, for: key, ttl: .max, now: 0)
        #expect(cache.lookup(key, now: 3599) != nil)
        #expect(cache.lookup(key, now: 3600) == nil)
    }

    @Test func aFullCacheDropsExpiredThenSoonestToExpire() {
        var cache = Cache(capacity: 10)
        for i in 0..<10 { cache.store(.noData, for: Cache.Key(name: "n\(i).test", type: .a), ttl: UInt32(10 + i), now: 0) }
        #expect(cache.count == 10)
        // At 12 s the first three have expired: they make the room.
        cache.store(.noData, for: Cache.Key(name: "new.test", type: .a), ttl: 100, now: 12)
        #expect(cache.count == 8)
        for i in 0..<3 { cache.store(.noData, for: Cache.Key(name: "more\(i).test", type: .a), ttl: 100, now: 12) }
        // The last of those found none expired: the soonest to expire (n3) went.
        #expect(cache.count == 10)
        #expect(cache.lookup(Cache.Key(name: "n3.test", type: .a), now: 12) == nil)
        cache.store(.noData, for: Cache.Key(name: "last.test", type: .a), ttl: 100, now: 12)
        #expect(cache.count == 10)
        #expect(cache.lookup(Cache.Key(name: "n4.test", type: .a), now: 12) == nil)
        #expect(cache.lookup(Cache.Key(name: "n5.test", type: .a), now: 12) != nil)
    }

    @Test func addressText() {
        #expect(IPAddressText.format([192, 0, 2, 1]) == "192.0.2.1")
        #expect(IPAddressText.format(IPNetwork.parseAddress("2001:db8:0:0:1:0:0:1")!) == "2001:db8::1:0:0:1")
        #expect(IPAddressText.format(IPNetwork.parseAddress("::1")!) == "::1")
        #expect(IPAddressText.format(IPNetwork.parseAddress("2001:db8:1:2:3:4:5:6")!) == "2001:db8:1:2:3:4:5:6")
        #expect(IPAddressText.reverseName([192, 0, 2, 1]) == "1.2.0.192.in-addr.arpa")
        #expect(IPAddressText.reverseName(IPNetwork.parseAddress("2001:db8::1")!)
            == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    }
}

extension DNSCache.Entry: Equatable where Answer: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.records(let x), .records(let y)): return x == y
        case (.noData, .noData), (.nameNotFound, .nameNotFound): return true
        default: return false
        }
    }
}
