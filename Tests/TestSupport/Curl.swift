import Foundation

/// One HTTP request with curl (a real client, as an operator would use), off Swift's cooperative
/// threads: the status and the body, and the body read as a JSON object (empty when it is not one).
public enum Curl {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public var json: [String: any Sendable] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: any Sendable] ?? [:]
        }
    }

    public static func request(_ url: String, method: String = "GET", token: String? = nil) async throws -> Answer {
        var arguments = ["curl", "-s", "-m", "10", "-X", method, "-w", "\n%{http_code}", url]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let command = arguments
        let run = try await blocking { try Subprocess.run(command) }
        var lines = run.stdout.components(separatedBy: "\n")
        let status = Int(lines.removeLast()) ?? 0
        return Answer(status: status, body: lines.joined(separator: "\n"))
    }
}
