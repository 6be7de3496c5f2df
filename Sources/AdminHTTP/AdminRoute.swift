/// What an admin request asks for, decided from its method, path and query alone (no I/O), so
/// that the routing of outside input can be fuzzed and tested without a server. The paths are
/// those of docs/openapi.yaml and the probes.
public enum AdminRoute: Hashable, Sendable {
    case metrics
    /// `/healthz` and `/livez`: the process serves.
    case health
    case ready
    case queueList(QueueQuery)
    /// `POST /api/queue/flush`: every message, now.
    case flushAll
    case show(id: String)
    case delete(id: String)
    case attempts(id: String)
    case act(QueueAction, id: String)
    case reload
    /// 405, with the methods the path takes (for `Allow`).
    case notAllowed(allow: String)
    case notFound
    /// 400, saying what was wrong.
    case badRequest(String)

    /// What `POST /api/queue/{id}/{action}` does.
    public enum QueueAction: String, Hashable, Sendable, CaseIterable {
        case flush, bounce, hold, release
    }

    /// `GET /api/queue`'s filters and page.
    public struct QueueQuery: Hashable, Sendable {
        public static let states = ["pending", "deferred", "held"]
        public var state: String?
        /// In lower case.
        public var domain: String?
        public var olderThan = 0
        public var offset = 0
        public var limit = 100

        public init(state: String? = nil, domain: String? = nil, olderThan: Int = 0, offset: Int = 0, limit: Int = 100) {
            self.state = state
            self.domain = domain
            self.olderThan = olderThan
            self.offset = offset
            self.limit = limit
        }
    }

    /// The probes, which answer without the token (load balancers and orchestrators carry none).
    public static let probes: Set<String> = ["/healthz", "/readyz", "/livez"]

    public init(_ request: AdminRequest) {
        switch (request.method, request.path) {
        case ("GET", "/metrics"), ("HEAD", "/metrics"): self = .metrics
        case ("GET", "/healthz"), ("GET", "/livez"): self = .health
        case ("GET", "/readyz"): self = .ready
        case (_, "/metrics"): self = .notAllowed(allow: "GET, HEAD")
        case (_, "/healthz"), (_, "/livez"), (_, "/readyz"): self = .notAllowed(allow: "GET")
        default:
            self = request.path.hasPrefix("/api/") ? Self.api(request) : .notFound
        }
    }

    private static func api(_ request: AdminRequest) -> AdminRoute {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // ["api", "queue", id?, action?] or ["api", "reload"]
        guard parts.count >= 2, parts.count <= 4 else { return .notFound }
        let method = request.method
        switch (parts[1], parts.count) {
        case ("queue", 2):
            return method == "GET" ? queueList(request.query) : .notAllowed(allow: "GET")
        case ("queue", 3) where parts[2] == "flush":
            // `flush` is no queue id (ids are hexadecimal): this path is the flush of them all.
            return method == "POST" ? .flushAll : .notAllowed(allow: "POST")
        case ("queue", 3):
            switch method {
            case "GET": return .show(id: parts[2])
            case "DELETE": return .delete(id: parts[2])
            default: return .notAllowed(allow: "GET, DELETE")
            }
        case ("queue", 4) where parts[3] == "attempts":
            return method == "GET" ? .attempts(id: parts[2]) : .notAllowed(allow: "GET")
        case ("queue", 4):
            guard let action = QueueAction(rawValue: parts[3]) else { return method == "POST" ? .notFound : .notAllowed(allow: "POST") }
            return method == "POST" ? .act(action, id: parts[2]) : .notAllowed(allow: "POST")
        case ("reload", 2):
            return method == "POST" ? .reload : .notAllowed(allow: "POST")
        default:
            return .notFound
        }
    }

    /// `state=&domain=&older_than=&offset=&limit=`, each checked.
    private static func queueList(_ q: [String: String]) -> AdminRoute {
        if let state = q["state"], !QueueQuery.states.contains(state) { return .badRequest("state must be pending, deferred or held") }
        func number(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int? {
            guard let text = q[name] else { return value }
            guard let n = Int(text), range.contains(n) else { return nil }
            return n
        }
        guard let offset = number("offset", default: 0, range: 0...Int(Int32.max)),
            let limit = number("limit", default: 100, range: 1...1000),
            let olderThan = number("older_than", default: 0, range: 0...Int(Int32.max))
        else { return .badRequest("offset, limit (1-1000) and older_than are whole numbers") }
        return .queueList(QueueQuery(state: q["state"], domain: q["domain"]?.lowercased(), olderThan: olderThan, offset: offset, limit: limit))
    }
}
