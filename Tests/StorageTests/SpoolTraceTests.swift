import Foundation
import NIOPosix
import Storage
import TestSupport
import Testing

@Suite struct SpoolTraceTests {
    @Test func theNewestAttemptsAreKeptAndOldTracesGo() throws {
        let root = try TestPaths.temporaryDirectory("trace")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        let spool = try Spool(root: root + "/spool", threadPool: pool, logger: .init(label: "t"))
        defer { spool.close() }
        #expect(spool.trace("A1").isEmpty)
        for n in 1...(Spool.tracedAttempts + 3) {
            try spool.appendTrace("A1", attempt: "2026-12-07T10:00:0\(n)Z to mx[192.0.2.1]:25\n+0ms * connected\n+3ms S: 220 hello \(n)")
        }
        let attempts = spool.trace("A1")
        #expect(attempts.count == Spool.tracedAttempts)
        #expect(attempts.first?.hasSuffix("S: 220 hello 4") == true, "\(attempts.first ?? "")")
        #expect(attempts.last?.hasSuffix("S: 220 hello 13") == true)
        #expect(attempts.last?.contains("\n+0ms * connected\n") == true)

        // The message is not in the spool: its trace goes once retention has passed.
        let written = Int64(Date().timeIntervalSince1970)
        #expect(spool.removeTraces(olderThan: 3600, now: written + 10) == 0)
        #expect(spool.removeTraces(olderThan: 3600, now: written + 3700) == 1)
        #expect(spool.trace("A1").isEmpty)
        #expect(!Spool.traceExpired(modified: 100, now: 199, retention: 100))
        #expect(Spool.traceExpired(modified: 100, now: 200, retention: 100))
    }
}
