import Foundation

/// `Tests/Scripts/dns_server.py` (Python's dnslib) serving a zone given as JSON, on a free
/// loopback port. It stops when this object goes away.
public final class TestDNSServer: @unchecked Sendable {
    public let port: Int
    private let process: RunningProcess
    private let zonePath: String

    /// `zone` maps names to answers; see the script for the format.
    public init(zone: [String: Any]) throws {
        zonePath = NSTemporaryDirectory() + "zone-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: zone).write(to: URL(fileURLWithPath: zonePath))
        process = try RunningProcess(
            ["/usr/bin/env", "python3", TestPaths.packageRoot + "/Tests/Scripts/dns_server.py", zonePath], keepStdinOpen: true)
        guard let line = process.waitForLine(timeout: 20, where: { $0.hasPrefix("PORT ") }), let p = Int(line.dropFirst(5)) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "dns_server.py did not start: \(process.stderrLines)"])
        }
        port = p
    }

    deinit {
        process.signal(SIGTERM)
        try? FileManager.default.removeItem(atPath: zonePath)
    }
}
