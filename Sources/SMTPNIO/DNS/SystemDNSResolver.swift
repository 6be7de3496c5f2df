import CResolv
import MailCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// DNS through glibc's libresolv, on a thread pool (its calls block). The server can be chosen
/// (address and port), which is how tests point it at their own DNS server on loopback.
public final class SystemDNSResolver: DNSResolver, Sendable {
    public struct Configuration: Hashable, Sendable {
        /// An IPv4 address; nil uses the system's resolv.conf.
        public var server: String?
        public var port: Int
        /// Seconds per try, and tries.
        public var timeout: Int
        public var attempts: Int

        public init(server: String? = nil, port: Int = 53, timeout: Int = 5, attempts: Int = 2) {
            self.server = server
            self.port = port
            self.timeout = timeout
            self.attempts = attempts
        }
    }

    public let configuration: Configuration
    private let threadPool: NIOThreadPool

    public init(configuration: Configuration = Configuration(), threadPool: NIOThreadPool) {
        self.configuration = configuration
        self.threadPool = threadPool
    }

    static let typeA: Int32 = 1
    static let typeMX: Int32 = 15
    static let typeTXT: Int32 = 16
    static let typeAAAA: Int32 = 28

    public func mx(_ domain: String) async throws(DNSError) -> [MXRecord] {
        let answers = try await query(domain, type: Self.typeMX)
        return answers.compactMap { answer in
            guard answer.type == Self.typeMX, answer.data.count >= 3 else { return nil }
            let preference = Int(answer.data[0]) << 8 | Int(answer.data[1])
            return MXRecord(preference: preference, exchange: answer.name)
        }
    }

    public func addresses(_ host: String) async throws(DNSError) -> [String] {
        var result: [String] = []
        var failure: DNSError?
        for type in [Self.typeAAAA, Self.typeA] {
            do {
                for answer in try await query(host, type: type) where answer.type == type {
                    if type == Self.typeA, answer.data.count == 4 {
                        result.append(answer.data.map(String.init).joined(separator: "."))
                    } else if type == Self.typeAAAA, answer.data.count == 16 {
                        result.append(Self.ipv6Text(answer.data))
                    }
                }
            } catch {
                if case .nameNotFound = error { throw error }
                failure = error
            }
        }
        if result.isEmpty, let failure { throw failure }
        return result
    }

    /// The TXT records at a name, each record's character-strings joined (RFC 7208 §3.3, RFC 6376
    /// §3.6.2.2 read them so); empty when the name has none. A record whose strings overrun its
    /// data is left out.
    public func txt(_ name: String) async throws(DNSError) -> [[UInt8]] {
        try await query(name, type: Self.typeTXT).compactMap { $0.type == Self.typeTXT ? DNSText.joinedStrings($0.data) : nil }
    }

    static func ipv6Text(_ bytes: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    struct Answer: Sendable {
        var type: Int32
        /// For MX, the expanded exchanger name.
        var name: String
        var data: [UInt8]
    }

    private func query(_ name: String, type: Int32) async throws(DNSError) -> [Answer] {
        let config = configuration
        let result: Result<[Answer], DNSError>
        do {
            result = try await threadPool.runIfActive { Self.blockingQuery(name, type: type, config) }
        } catch {
            throw .temporary("DNS lookup could not run: \(error)")
        }
        return try result.get()
    }

    /// One query with its own resolver state (the state is not shareable between threads).
    static func blockingQuery(_ name: String, type: Int32, _ config: Configuration) -> Result<[Answer], DNSError> {
        let state = UnsafeMutablePointer<__res_state>.allocate(capacity: 1)
        defer { state.deallocate() }
        guard postie_res_init(state, config.server ?? "", Int32(config.port), Int32(config.timeout), Int32(config.attempts)) == 0 else {
            return .failure(.temporary("cannot set up the DNS resolver"))
        }
        defer { postie_res_close(state) }
        var answer = [UInt8](repeating: 0, count: 65536)
        let fqdn = name.hasSuffix(".") ? name : name + "."
        let length = res_nquery(state, fqdn, 1, type, &answer, Int32(answer.count))
        if length < 0 {
            switch postie_res_errno(state) {
            case HOST_NOT_FOUND: return .failure(.nameNotFound(name))
            case NO_DATA: return .success([])
            case TRY_AGAIN: return .failure(.temporary("\(name): temporary DNS failure (SERVFAIL or timeout)"))
            default: return .failure(.temporary("\(name): DNS lookup failed"))
            }
        }
        var msg = ns_msg()
        let parsed = answer.withUnsafeBufferPointer { buffer -> Result<[Answer], DNSError> in
            guard ns_initparse(buffer.baseAddress, length, &msg) == 0 else {
                return .failure(.temporary("\(name): malformed DNS answer"))
            }
            var answers: [Answer] = []
            for i in 0..<postie_answer_count(&msg) {
                var rr = ns_rr()
                guard ns_parserr(&msg, ns_s_an, i, &rr) == 0 else { continue }
                let rrType = Int32(rr.type)
                guard rrType == type, let rdata = rr.rdata else { continue }
                let data = Array(UnsafeBufferPointer(start: rdata, count: Int(rr.rdlength)))
                var exchange = ""
                if rrType == typeMX {
                    var host = [CChar](repeating: 0, count: Int(NS_MAXDNAME))
                    let eom = buffer.baseAddress! + Int(length)
                    guard dn_expand(buffer.baseAddress, eom, rdata + 2, &host, Int32(host.count)) >= 0 else { continue }
                    exchange = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if exchange == "." { exchange = "" }
                    if exchange.hasSuffix(".") { exchange.removeLast() }
                }
                answers.append(Answer(type: rrType, name: exchange, data: data))
            }
            return .success(answers)
        }
        return parsed
    }
}
