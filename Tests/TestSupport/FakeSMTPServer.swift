import Foundation

/// `Tests/Scripts/fake_smtp.py`: a scripted SMTP peer on a loopback address, recording what it
/// accepts. It stops when this object goes away.
public final class FakeSMTPServer: @unchecked Sendable {
    public let port: Int
    public let host: String
    public let directory: String
    private let process: RunningProcess

    public init(mode: String, host: String = "127.0.0.1", port: Int = 0) throws {
        self.host = host
        directory = try TestPaths.temporaryDirectory("fake-smtp")
        process = try RunningProcess(
            [
                "/usr/bin/env", "python3", TestPaths.packageRoot + "/Tests/Scripts/fake_smtp.py", mode, directory, "--host", host, "--port",
                "\(port)",
            ], keepStdinOpen: true)
        guard let line = process.waitForLine(timeout: 20, where: { $0.hasPrefix("PORT ") }), let p = Int(line.dropFirst(5)) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "fake_smtp.py did not start: \(process.stderrLines)"])
        }
        self.port = p
    }

    /// The accepted messages (envelope lines first), in order of arrival.
    public var messages: [String] { files("eml") }
    /// How many messages it has taken so far (cheap: names only).
    public var messageCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }.count
    }
    /// The same messages as they came over the wire (dot-stuffed, ending in CRLF.CRLF).
    public var rawMessages: [String] { files("raw") }

    private func files(_ ext: String) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix("." + ext) }
        return names.sorted { Int($0.split(separator: ".")[0])! < Int($1.split(separator: ".")[0])! }.compactMap {
            try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)
        }
    }

    deinit {
        process.signal(SIGTERM)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
