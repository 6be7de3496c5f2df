import AdminHTTP
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
    /// The control socket's operations (the API's queue and reload): nil serves no API.
    var control: (@Sendable (ControlRequest) async -> ControlResponse)? = nil
    /// Seconds since 1970, for the queue's age filter.
    var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

    func respond(_ request: AdminRequest) async -> AdminResponse {
        if let token, !AdminRoute.probes.contains(request.path) {
            guard Self.constantTimeEqual(request.headers["authorization"] ?? "", "Bearer " + token) else {
                return Self.json(401, ["error": "unauthorized"])
            }
        }
        let route = AdminRoute(request)
        switch route {
        case .metrics:
            return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics())
        case .health:
            return Self.json(200, ["status": "ok"])
        case .ready:
            let r = readiness()
            var checks: [String: Any] = [:]
            for c in r.checks { checks[c.name] = ["ok": c.ok, "detail": c.detail] }
            return Self.json(r.ready ? 200 : 503, ["ready": r.ready, "checks": checks])
        case .notAllowed(let allow):
            return Self.notAllowed(allow)
        case .notFound:
            return Self.json(404, ["error": "no such path"])
        case .badRequest(let message):
            return Self.json(400, ["error": message])
        case .queueList, .flushAll, .show, .delete, .attempts, .act, .reload:
            guard let control else { return Self.json(404, ["error": "no such path"]) }
            return await api(route, control)
        }
    }

    // MARK: The API (docs/openapi.yaml)

    func api(_ route: AdminRoute, _ control: @Sendable (ControlRequest) async -> ControlResponse) async -> AdminResponse {
        switch route {
        case .queueList(let query):
            return await list(query, control)
        case .flushAll:
            return Self.outcome(await control(ControlRequest(command: .flush)))
        case .show(let id):
            let response = await control(ControlRequest(command: .show, id: id))
            guard response.ok, let entry = response.entries?.first else { return Self.outcome(response) }
            let text = response.text ?? ""
            let sections = text.components(separatedBy: "\n\n")
            var object = Self.object(entry)
            object["envelope"] = sections.first ?? ""
            object["headers"] = sections.dropFirst().joined(separator: "\n\n")
            return Self.json(200, object)
        case .delete(let id):
            return Self.outcome(await control(ControlRequest(command: .delete, id: id)))
        case .attempts(let id):
            let response = await control(ControlRequest(command: .trace, id: id))
            guard response.ok else { return Self.outcome(response) }
            return Self.json(200, ["id": id, "attempts": response.attempts ?? []])
        case .act(let action, let id):
            let command: ControlRequest.Command
            switch action {
            case .flush: command = .flush
            case .bounce: command = .bounce
            case .hold: command = .hold
            case .release: command = .release
            }
            return Self.outcome(await control(ControlRequest(command: command, id: id)))
        case .reload:
            let response = await control(ControlRequest(command: .reload))
            guard let report = response.reload else { return Self.outcome(response) }
            return Self.json(
                report.ok ? 200 : 409,
                ["ok": report.ok, "changed": report.changed, "need_restart": report.needRestart, "error": report.error ?? NSNull()])
        case .metrics, .health, .ready, .notAllowed, .notFound, .badRequest:
            return Self.json(404, ["error": "no such path"])
        }
    }

    /// `GET /api/queue`: the queue, filtered and paged, oldest first.
    func list(_ query: AdminRoute.QueueQuery, _ control: @Sendable (ControlRequest) async -> ControlResponse) async -> AdminResponse {
        let response = await control(ControlRequest(command: .list))
        guard response.ok else { return Self.outcome(response) }
        let now = self.now()
        let matching = (response.entries ?? []).filter { e in
            if let state = query.state, Self.state(of: e) != state { return false }
            if let domain = query.domain, !e.recipients.contains(where: { $0.address.lowercased().hasSuffix("@" + domain) }) { return false }
            return now - e.arrival >= Int64(query.olderThan)
        }.sorted { ($0.arrival, $0.id) < ($1.arrival, $1.id) }
        let page = matching.dropFirst(query.offset).prefix(query.limit)
        return Self.json(200, ["total": matching.count, "offset": query.offset, "limit": query.limit, "messages": page.map(Self.object)])
    }

    /// A message's state: `held`, `deferred` (a recipient waits for a retry), else `pending`.
    static func state(of entry: ControlResponse.QueueEntry) -> String {
        if entry.held == true { return "held" }
        return entry.recipients.contains { $0.status == "deferred" } ? "deferred" : "pending"
    }

    static func object(_ e: ControlResponse.QueueEntry) -> [String: Any] {
        [
            "id": e.id, "arrival": e.arrival, "size": e.size, "sender": e.sender, "state": state(of: e),
            "next_attempt": e.nextAttempt.map { $0 as Any } ?? NSNull(),
            "recipients": e.recipients.map { r -> [String: Any] in
                [
                    "address": r.address, "original": r.original, "status": r.status, "attempts": r.attempts,
                    "last_error": r.lastError.map { $0 as Any } ?? NSNull(),
                ]
            },
        ]
    }

    /// A control answer as HTTP: 200 with what it said, 404 for a message that is not there,
    /// 409 for one that cannot be acted on now.
    static func outcome(_ response: ControlResponse) -> AdminResponse {
        if response.ok { return json(200, ["ok": true, "result": response.text ?? ""]) }
        let error = response.error ?? "refused"
        return json(error.contains("no such message") ? 404 : 409, ["error": error])
    }

    /// 405 with the methods the path takes (RFC 9110 §15.5.6 wants them in `Allow`).
    static func notAllowed(_ methods: String) -> AdminResponse {
        var response = json(405, ["error": "method not allowed"])
        response.headers = [("Allow", methods)]
        return response
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
