import Foundation

/// What the admin listener answers (docs/operations.md): `/metrics` (Prometheus text format),
/// `/healthz` (the process serves) and `/readyz` (ready to take mail), each a pure function of
/// the request and what the server reports. With a token configured, every path but the two
/// probes needs `Authorization: Bearer <token>`; without it a request gets 401 and nothing else.
struct AdminService: Sendable {
    /// The checks `/readyz` makes: each one's name, whether it holds, and what was found.
    struct Readiness: Sendable {
        var checks: [(name: String, ok: Bool, detail: String)]
        var ready: Bool { checks.allSatisfy(\.ok) }
    }

    let token: String?
    let metrics: @Sendable () -> [UInt8]
    let readiness: @Sendable () -> Readiness

    func respond(_ request: AdminRequest) async -> AdminResponse {
        let probes: Set<String> = ["/healthz", "/readyz", "/livez"]
        if let token, !probes.contains(request.path) {
            guard Self.constantTimeEqual(request.headers["authorization"] ?? "", "Bearer " + token) else {
                return Self.json(401, ["error": "unauthorized"])
            }
        }
        switch (request.method, request.path) {
        case ("GET", "/metrics"), ("HEAD", "/metrics"):
            return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics())
        case ("GET", "/healthz"), ("GET", "/livez"):
            return Self.json(200, ["status": "ok"])
        case ("GET", "/readyz"):
            let r = readiness()
            var checks: [String: Any] = [:]
            for c in r.checks { checks[c.name] = ["ok": c.ok, "detail": c.detail] }
            return Self.json(r.ready ? 200 : 503, ["ready": r.ready, "checks": checks])
        case (_, "/metrics"), (_, "/healthz"), (_, "/livez"), (_, "/readyz"):
            return Self.json(405, ["error": "method not allowed"])
        default:
            return Self.json(404, ["error": "no such path"])
        }
    }

    static func json(_ status: Int, _ object: [String: Any]) -> AdminResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return AdminResponse(status: status, body: Array(data) + [10])
    }

    /// Compares without leaking through timing how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
