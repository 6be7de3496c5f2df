import Foundation
import Logging
import MailCore
import NIOCore
import Postie
import Storage
import TestSupport

/// A real Postie on a free loopback port, with its data under a fresh temporary folder and the
/// test domain `xyz.com` (users carolyn and bob).
final class TestServer: @unchecked Sendable {
    let server: PostieServer
    let dataDirectory: String
    let port: Int

    static func configuration(dataDirectory: String) -> PostieConfiguration {
        var config = PostieConfiguration(
            hostname: "mx.test", dataDirectory: dataDirectory,
            domains: [
                "xyz.com": LocalDirectory.Domain(users: ["carolyn", "bob"], aliases: ["team": ["carolyn", "bob"]]),
                "abcd.com": LocalDirectory.Domain(users: ["elinor"]),
            ])
        config.smtp.listen = [.init(host: "127.0.0.1", port: 0)]
        config.smtp.maxConnectionsPerClient = 1000
        config.recipients.postmasterDomain = "xyz.com"
        // The checks of strangers' mail ask DNS, which a test machine may not have: the tests of
        // the checks turn them on with the tests' DNS server.
        config.verify.enabled = false
        // Many test servers run at once: the admin listener only where a test asks for one.
        config.admin.listen = []
        return config
    }

    init(logger: Logger? = nil, _ adjust: (inout PostieConfiguration) -> Void = { _ in }) async throws {
        let temporary = try TestPaths.temporaryDirectory("postie")
        var config = Self.configuration(dataDirectory: temporary)
        adjust(&config)
        if config.dataDirectory != temporary { try? FileManager.default.removeItem(atPath: temporary) }
        dataDirectory = config.dataDirectory
        var quiet = Logger(label: "postie-test")
        quiet.logLevel = .critical
        server = PostieServer(configuration: config, logger: logger ?? quiet)
        let addresses = try await server.start()
        port = addresses[0].port!
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    var mailRoot: String { server.configuration.effectiveMailRoot }

    /// The messages in a mailbox's `new/`, oldest first, after the queue has settled.
    func messages(_ user: String, _ domain: String = "xyz.com") async -> [String] {
        await server.waitForDeliveries()
        let dir = "\(mailRoot)/\(domain)/\(user)/new"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        return names.compactMap { try? String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }
    }

    /// Committed messages still in the spool.
    var spooled: [String] {
        Spool.messageFiles(root: dataDirectory + "/spool")
    }

    func client() throws -> LineClient { try LineClient(port: port) }

    /// The metrics as `/metrics` would show them now (no admin listener needed).
    var metricsText: String { String(decoding: server.metrics.registry.emitToBuffer(), as: UTF8.self) }

    /// Sends one message with Python's smtplib; the message is ASCII text with CRLF line endings.
    func send(from sender: String, to recipients: [String], message: String) async throws -> ProcessResult {
        let port = self.port
        return try await blocking {
            try Subprocess.python(
                """
                import smtplib, sys
                s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
                s.sendmail(sys.argv[2], sys.argv[3].split(','), sys.stdin.read().encode())
                s.quit()
                """, ["\(port)", sender, recipients.joined(separator: ",")], stdin: message)
        }
    }
}

/// Starts a server, runs the body, stops the server whatever happens.
func withServer(
    logger: Logger? = nil, _ adjust: (inout PostieConfiguration) -> Void = { _ in }, _ body: (TestServer) async throws -> Void
) async throws {
    let server = try await TestServer(logger: logger, adjust)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Keeps every log line (message and metadata) in memory, to check what the server logs.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var text: String { lock.withLock { lines.joined(separator: "\n") } }

    func append(_ line: String) { lock.withLock { lines.append(line) } }

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
    }
}
