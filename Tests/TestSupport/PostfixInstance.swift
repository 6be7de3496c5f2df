import Foundation

/// A private Postfix from Debian (`Tests/Scripts/postfix_instance.sh`) on a free loopback port:
/// it delivers bob@pf.test into a Maildir under its folder and relays xyz.com to Postie.
public final class PostfixInstance: @unchecked Sendable {
    public let directory: String
    public let port: Int
    private let script = TestPaths.packageRoot + "/Tests/Scripts/postfix_instance.sh"

    public init(postiePort: Int, port: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/postfix") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "Postfix is not installed (apt-get install postfix); .ci/run installs it"])
        }
        directory = try TestPaths.temporaryDirectory("postfix")
        self.port = port
        let result = try Subprocess.run([script, "start", directory, "\(port)", "\(postiePort)"])
        guard result.status == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "postfix did not start: \(result.stderr)"])
        }
        // Wait (bounded) for smtpd to listen.
        for _ in 0..<100 {
            if (try? LineClient(port: port, timeout: 1)) != nil { return }
            usleep(100_000)
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "postfix is not listening on \(port)"])
    }

    /// Messages delivered to bob@pf.test.
    public var delivered: [String] {
        let dir = directory + "/mail/pf.test/bob/new"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().compactMap {
            try? String(contentsOfFile: dir + "/" + $0, encoding: .utf8)
        }
    }

    public var log: String { (try? String(contentsOfFile: directory + "/maillog", encoding: .utf8)) ?? "" }

    public func stop() {
        _ = try? Subprocess.run([script, "stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension TestPaths {
    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A delivered message without the trace fields the receiving MTAs added at the top
/// (`Return-Path:`, `Delivered-To:`, Postfix's `X-Original-To:`, `Received:` with its folded lines).
public func withoutTraceFields(_ message: String) -> String {
    var lines = message.split(separator: "\n", omittingEmptySubsequences: false)
    while let first = lines.first {
        if ["Return-Path:", "Delivered-To:", "X-Original-To:", "Received:"].contains(where: { first.hasPrefix($0) }) {
            lines.removeFirst()
            while lines.first?.hasPrefix("\t") == true || lines.first?.hasPrefix(" ") == true { lines.removeFirst() }
        } else {
            break
        }
    }
    return lines.joined(separator: "\n")
}
