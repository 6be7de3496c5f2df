import Foundation
import TestSupport

/// The `postie` executable running as a server, with its own configuration and data folder.
final class PostieProcess: @unchecked Sendable {
    let directory: String
    let configPath: String
    var process: RunningProcess!
    var port = 0

    /// `verify`: the `[verify]` section; off unless given (the checks ask DNS, which a test
    /// machine may not have).
    /// `admin`: the `[admin]` section; no listener unless given (many servers run at once).
    /// `top`: keys outside any section (`log_format`); `extra`: keys of `[smtp]`.
    init(
        directory: String, top: String = "", extra: String = "", relay: String = "", queue: String = "",
        verify: String = "enabled = false", admin: String = "listen = []"
    ) throws {
        self.directory = directory
        configPath = directory + "/postie.toml"
        let config = """
            hostname = "mx.test"
            data_dir = "\(directory)/data"
            \(top)

            [smtp]
            listen = ["127.0.0.1:0"]
            max_connections_per_client = 1000
            \(extra)

            [relay]
            \(relay)

            [queue]
            \(queue)

            [verify]
            \(verify)

            [admin]
            \(admin)

            [domains."xyz.com"]
            users = ["carolyn", "bob"]
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the server and waits until it listens.
    func start(environment: [String: String]? = nil) throws {
        process = try RunningProcess([TestPaths.postieBinary, "serve", "--config", configPath], environment: environment)
        guard let line = process.waitForLine(inStderr: true, where: { $0.contains("listening") }),
            let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
            let p = Int(line[range].split(separator: ":").last ?? "")
        else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "postie did not start: \(process.stderrLines)"])
        }
        port = p
    }

    var mailbox: String { directory + "/data/mail/xyz.com" }

    func delivered(_ user: String) -> [String] {
        let dir = "\(mailbox)/\(user)/new"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        return names.compactMap { try? String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }
    }

    var spooled: [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory + "/data/spool/env")) ?? [] }
}
