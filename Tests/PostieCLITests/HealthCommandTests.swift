import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `postie health` against a running server's admin listener: 0 while it is ready, 1 once it is
/// gone.
@Suite struct HealthCommandTests {

    @Test func healthFollowsTheServer() async throws {
        try await blocking { try Self.check() }
    }

    static func check() throws {
        let dir = try TestPaths.temporaryDirectory("health")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try TestPaths.freePort()
        let server = try PostieProcess(directory: dir, admin: "listen = [\"127.0.0.1:\(port)\"]")
        try server.start()
        let ready = try Subprocess.run([TestPaths.postieBinary, "health", "--config", server.configPath])
        #expect(ready.status == 0, "\(ready.stdout) \(ready.stderr)")
        #expect(ready.stdout.contains(#""ready":true"#), "\(ready.stdout)")
        let live = try Subprocess.run([TestPaths.postieBinary, "health", "--live", "--config", server.configPath])
        #expect(live.status == 0 && live.stdout.contains(#""status":"ok""#), "\(live.stdout)")
        server.process.signal(SIGTERM)
        #expect(server.process.waitForExit(timeout: 20) == 0)
        let gone = try Subprocess.run([TestPaths.postieBinary, "health", "--config", server.configPath])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("nothing answers on 127.0.0.1:\(port)"), "\(gone.stderr)")
    }
}
