import CResolv
import MailCore
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// DNS through glibc's libresolv, on a thread pool (its calls block), with a cache that honours
/// TTLs and RFC 2308's negative caching (`DNSCache`). The server can be chosen (address and
/// port), which is how tests point it at their own DNS server on loopback. Each query is bounded
/// by `timeout` × `attempts`; a truncated UDP answer is asked again over TCP (libresolv does it).
public final class SystemDNSResolver: DNSResolver, Sendable {
    public struct Configuration: Hashable, Sendable {
        /// An IPv4 address; nil uses the system's resolv.conf.
        public var server: String?
        public var port: Int
        /// Seconds per try, and tries.
        public var timeout: Int
        public var attempts: Int
        /// Answers kept at most; 0 turns the cache off.
        public var cacheCapacity: Int

        public init(server: String? = nil, port: Int = 53, timeout: Int = 5, attempts: Int = 2, cacheCapacity: Int = 20_000) {
            self.server = server
            self.port = port
            self.timeout = timeout
            self.attempts = attempts
            self.cacheCapacity = cacheCapacity
        }
    }

    public let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let cache: Mutex<DNSCache<[Record]>>
    /// Seconds on a monotonic clock; tests give a virtual one.
    private let now: @Sendable () -> Double
    /// Told of each query sent (not of answers from the cache): its type and result (`answer`,
    /// `nodata`, `nxdomain`, `error`), for metrics.
    private let observe: (@Sendable (DNSRecordType, String) -> Void)?

    public init(
        configuration: Configuration = Configuration(), threadPool: NIOThreadPool,
        now: @escaping @Sendable () -> Double = { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 },
        observe: (@Sendable (DNSRecordType, String) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.threadPool = threadPool
        self.cache = Mutex(DNSCache(capacity: configuration.cacheCapacity))
        self.now = now
        self.observe = observe
    }

    /// Entries the cache holds now.
    public var cachedAnswers: Int { cache.withLock { $0.count } }

    public func mx(_ domain: String) async throws(DNSError) -> [MXRecord] {
        try await records(domain, .mx).compactMap { record in
            guard record.data.count >= 3 else { return nil }
            return MXRecord(preference: Int(record.data[0]) << 8 | Int(record.data[1]), exchange: record.name)
        }
    }

    public func ipv4(_ host: String) async throws(DNSError) -> [[UInt8]] {
        try await records(host, .a).compactMap { $0.data.count == 4 ? $0.data : nil }
    }

    public func ipv6(_ host: String) async throws(DNSError) -> [[UInt8]] {
        try await records(host, .aaaa).compactMap { $0.data.count == 16 ? $0.data : nil }
    }

    /// A record whose strings overrun its data is left out.
    public func txt(_ name: String) async throws(DNSError) -> [[UInt8]] {
        try await records(name, .txt).compactMap { DNSText.joinedStrings($0.data) }
    }

    public func ptr(_ address: [UInt8]) async throws(DNSError) -> [String] {
        try await records(IPAddressText.reverseName(address), .ptr).map(\.name).filter { !$0.isEmpty }
    }

    /// One resource record of the asked type.
    struct Record: Sendable {
        /// For MX and PTR, the expanded name (without the trailing dot).
        var name: String
        var data: [UInt8]
        var ttl: UInt32
    }

    /// What one query found, and how long it may be kept (nil: not at all): the records' smallest
    /// TTL, or for a negative answer the one its SOA gives (RFC 2308 §5).
    typealias Outcome = (entry: DNSCache<[Record]>.Entry, ttl: UInt32?)

    private func records(_ name: String, _ type: DNSRecordType) async throws(DNSError) -> [Record] {
        let key = DNSCache<[Record]>.Key(name: name, type: type)
        if configuration.cacheCapacity > 0, let hit = cache.withLock({ $0.lookup(key, now: now()) }) {
            return try Self.records(of: hit, name)
        }
        let config = configuration
        let result: Result<Outcome, DNSError>
        do {
            result = try await threadPool.runIfActive { Self.blockingQuery(name, type: type, config) }
        } catch {
            throw .temporary("DNS lookup could not run: \(error)")
        }
        let outcome: Outcome
        do {
            outcome = try result.get()
        } catch {
            observe?(type, "error")
            throw error
        }
        switch outcome.entry {
        case .records: observe?(type, "answer")
        case .noData: observe?(type, "nodata")
        case .nameNotFound: observe?(type, "nxdomain")
        }
        if config.cacheCapacity > 0, let ttl = outcome.ttl {
            let at = now()
            cache.withLock { $0.store(outcome.entry, for: key, ttl: ttl, now: at) }
        }
        return try Self.records(of: outcome.entry, name)
    }

    /// What a lookup answers for an entry, fresh or cached.
    static func records(of entry: DNSCache<[Record]>.Entry, _ name: String) throws(DNSError) -> [Record] {
        switch entry {
        case .records(let records): return records
        case .noData: return []
        case .nameNotFound: throw .nameNotFound(name)
        }
    }

    /// The longest name DNS carries (RFC 1035 §2.3.4), and a label's.
    static let maximumNameLength = 253
    static let maximumLabelLength = 63

    /// One query with its own resolver state (the state is not shareable between threads).
    static func blockingQuery(_ name: String, type: DNSRecordType, _ config: Configuration) -> Result<Outcome, DNSError> {
        var trimmed = Substring(name)
        if trimmed.hasSuffix(".") { trimmed.removeLast() }
        // A name DNS cannot carry cannot exist; saying so spares the network.
        let labels = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard !trimmed.isEmpty, trimmed.utf8.count <= maximumNameLength,
            labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= maximumLabelLength })
        else { return .success((.nameNotFound, nil)) }

        let state = UnsafeMutablePointer<__res_state>.allocate(capacity: 1)
        defer { state.deallocate() }
        guard postie_res_init(state, config.server ?? "", Int32(config.port), Int32(config.timeout), Int32(config.attempts)) == 0 else {
            return .failure(.temporary("cannot set up the DNS resolver"))
        }
        defer { postie_res_close(state) }
        var query = [UInt8](repeating: 0, count: Int(NS_PACKETSZ) + 256)
        let queryLength = res_nmkquery(state, Int32(ns_o_query.rawValue), trimmed + ".", Int32(ns_c_in.rawValue), type.rawValue, nil, 0, nil, &query, Int32(query.count))
        guard queryLength > 0 else { return .success((.nameNotFound, nil)) }
        var answer = [UInt8](repeating: 0, count: 65536)
        let length = res_nsend(state, query, queryLength, &answer, Int32(answer.count))
        guard length > 0 else {
            return .failure(.temporary("\(name): no answer from the DNS server (timeout)"))
        }
        return parse(Array(answer.prefix(Int(length))), name: name, type: type)
    }

    /// Reads a whole DNS message: the rcode, the answers of the asked type, and for a negative
    /// answer the SOA that says how long it may be kept.
    static func parse(_ message: [UInt8], name: String, type: DNSRecordType) -> Result<Outcome, DNSError> {
        message.withUnsafeBufferPointer { buffer -> Result<Outcome, DNSError> in
            var msg = ns_msg()
            guard let base = buffer.baseAddress, ns_initparse(base, Int32(buffer.count), &msg) == 0 else {
                return .failure(.temporary("\(name): malformed DNS answer"))
            }
            let rcode = postie_rcode(&msg)
            switch Int(rcode) {
            case Int(ns_r_noerror.rawValue), Int(ns_r_nxdomain.rawValue): break
            case Int(ns_r_servfail.rawValue):
                return .failure(.temporary("\(name): temporary DNS failure (SERVFAIL)"))
            default:
                return .failure(.temporary("\(name): DNS lookup failed (rcode \(rcode))"))
            }
            var records: [Record] = []
            for i in 0..<postie_section_count(&msg, ns_s_an) {
                var rr = ns_rr()
                guard ns_parserr(&msg, ns_s_an, i, &rr) == 0, Int32(rr.type) == type.rawValue, let rdata = rr.rdata else { continue }
                let data = Array(UnsafeBufferPointer(start: rdata, count: Int(rr.rdlength)))
                var target = ""
                if type == .mx || type == .ptr {
                    var host = [CChar](repeating: 0, count: Int(NS_MAXDNAME))
                    let offset = type == .mx ? 2 : 0
                    guard rr.rdlength > offset, dn_expand(base, base + buffer.count, rdata + offset, &host, Int32(host.count)) >= 0 else { continue }
                    target = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if target == "." { target = "" }
                    if target.hasSuffix(".") { target.removeLast() }
                }
                records.append(Record(name: target, data: data, ttl: rr.ttl))
            }
            if rcode == ns_r_noerror.rawValue, !records.isEmpty { return .success((.records(records), records.map(\.ttl).min())) }
            // RFC 2308 §5: a negative answer is kept for min(SOA TTL, SOA MINIMUM), the last
            // field of the SOA's data.
            var negativeTTL: UInt32?
            for i in 0..<postie_section_count(&msg, ns_s_ns) {
                var rr = ns_rr()
                guard ns_parserr(&msg, ns_s_ns, i, &rr) == 0, rr.type == UInt16(ns_t_soa.rawValue), rr.rdlength >= 20, let rdata = rr.rdata
                else { continue }
                let tail = UnsafeBufferPointer(start: rdata + Int(rr.rdlength) - 4, count: 4)
                let minimum = tail.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                negativeTTL = min(rr.ttl, minimum)
                break
            }
            return .success((rcode == ns_r_nxdomain.rawValue ? .nameNotFound : .noData, negativeTTL))
        }
    }
}
