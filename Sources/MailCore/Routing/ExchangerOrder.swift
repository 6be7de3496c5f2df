/// The order in which to try a domain's mail exchangers (RFC 5321 §5.1): by preference, the
/// lowest first, in random order among equals so that load spreads; a domain without MX records
/// is its own exchanger; a null MX (RFC 7505) means the domain takes no mail.
public enum ExchangerOrder {
    public enum Decision: Hashable, Sendable {
        case tryHosts([String])
        /// The domain publishes a null MX: fail at once with `5.1.10`.
        case nullMX
        /// The best exchanger is this very server (`ourName`): sending there would loop.
        case loopsToSelf
    }

    /// `records` are (preference, exchanger host) pairs as DNS gave them; `random` picks an index
    /// below its argument (injected, so tests are repeatable). `ourName` is this server's host
    /// name: an exchanger of that name, and every one it prefers to none of (an equal or greater
    /// preference value), is dropped (RFC 5321 §5.1); if none is left, the mail would loop.
    public static func decide(
        domain: String, records: [(preference: Int, host: String)], ourName: String? = nil, random: (Int) -> Int
    ) -> Decision {
        let us = ourName.map(normalized)
        if records.isEmpty { return normalized(domain) == us ? .loopsToSelf : .tryHosts([domain]) }
        if records.contains(where: { $0.host.isEmpty || $0.host == "." }) { return .nullMX }
        var records = records
        if let us, let ours = records.filter({ normalized($0.host) == us }).map(\.preference).min() {
            records = records.filter { $0.preference < ours }
            if records.isEmpty { return .loopsToSelf }
        }
        var hosts: [String] = []
        for preference in Set(records.map(\.preference)).sorted() {
            var group = records.filter { $0.preference == preference }.map { $0.host.lowercased() }
            // Fisher–Yates with the injected generator.
            var i = group.count - 1
            while i > 0 {
                let j = random(i + 1)
                group.swapAt(i, j)
                i -= 1
            }
            for h in group where !hosts.contains(h) { hosts.append(h) }
        }
        return .tryHosts(hosts)
    }

    /// Lower case, without the root's trailing dot.
    static func normalized(_ host: String) -> String {
        let lower = host.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }
}
