import Foundation
import Logging
import MailCore
import NIOCore
import Postie
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
        config.listen = [.init(host: "127.0.0.1", port: 0)]
        config.maxConnectionsPerClient = 1000
        config.primaryDomain = "xyz.com"
        return config
    }

    init(_ adjust: (inout PostieConfiguration) -> Void = { _ in }) async throws {
        let temporary = try TestPaths.temporaryDirectory("postie")
        var config = Self.configuration(dataDirectory: temporary)
        adjust(&config)
        if config.dataDirectory != temporary { try? FileManager.default.removeItem(atPath: temporary) }
        dataDirectory = config.dataDirectory
        var logger = Logger(label: "postie-test")
        logger.logLevel = .critical
        server = PostieServer(configuration: config, logger: logger)
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
        (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/spool/env")) ?? []
    }

    func client() throws -> LineClient { try LineClient(port: port) }
}

/// Starts a server, runs the body, stops the server whatever happens.
func withServer(_ adjust: (inout PostieConfiguration) -> Void = { _ in }, _ body: (TestServer) async throws -> Void) async throws {
    let server = try await TestServer(adjust)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}
