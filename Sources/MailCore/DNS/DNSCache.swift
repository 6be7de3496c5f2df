/// Answers kept for as long as their TTL allows, so that SPF, DKIM, DMARC and relaying ask the
/// network once for what many messages need. Positive answers live for their smallest record TTL;
/// negative ones (NXDOMAIN, NODATA) for the TTL RFC 2308 §5 gives them — the smaller of the SOA
/// record's TTL and its MINIMUM field — and not at all without an SOA. Temporary failures are not
/// kept: the next message asks again. Time is a number of seconds from any fixed origin, given
/// by the caller (so tests run on a virtual clock). A value with no I/O.
public struct DNSCache<Answer: Sendable>: Sendable {
    public struct Key: Hashable, Sendable {
        public var name: String
        public var type: DNSRecordType

        public init(name: String, type: DNSRecordType) {
            // Names compare without case and without the root's trailing dot.
            var name = name.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            self.name = name
            self.type = type
        }
    }

    /// What a lookup found: records, or that there are none (the name exists or not).
    public enum Entry: Sendable {
        case records(Answer)
        case noData
        case nameNotFound
    }

    private struct Stored: Sendable {
        var entry: Entry
        var expires: Double
    }

    private var entries: [Key: Stored] = [:]
    /// At most this many entries; the cache empties its expired ones, then its soonest to expire.
    public let capacity: Int
    /// No answer is kept longer than this, whatever its TTL (a day, as BIND's max-cache-ttl is a week
    /// and unbound's a day).
    public let maximumTTL: Double

    public init(capacity: Int = 20_000, maximumTTL: Double = 86_400) {
        self.capacity = max(1, capacity)
        self.maximumTTL = maximumTTL
    }

    public var count: Int { entries.count }

    /// The entry for a key while it lives.
    public mutating func lookup(_ key: Key, now: Double) -> Entry? {
        guard let stored = entries[key] else { return nil }
        if stored.expires <= now {
            entries[key] = nil
            return nil
        }
        return stored.entry
    }

    /// Keeps an entry for `ttl` seconds (capped); a TTL of zero keeps nothing.
    public mutating func store(_ entry: Entry, for key: Key, ttl: UInt32, now: Double) {
        let seconds = min(Double(ttl), maximumTTL)
        guard seconds > 0 else { return }
        if entries[key] == nil, entries.count >= capacity { makeRoom(now: now) }
        entries[key] = Stored(entry: entry, expires: now + seconds)
    }

    private mutating func makeRoom(now: Double) {
        entries = entries.filter { $0.value.expires > now }
        guard entries.count >= capacity else { return }
        // Still full: drop the tenth that expires soonest.
        let drop = entries.sorted { $0.value.expires < $1.value.expires }.prefix(max(1, capacity / 10))
        for (key, _) in drop { entries[key] = nil }
    }
}
