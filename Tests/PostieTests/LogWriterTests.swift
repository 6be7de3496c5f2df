import Foundation
import Logging
import Postie
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogWriterTests {
    @Test func linesKeepSwiftLogsFormatAndAllArriveAfterFlush() throws {
        let dir = try TestPaths.temporaryDirectory("log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/postie.log"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let writer = LogWriter(fd: fd)
        var base = Logger(label: "postie") { PostieLogHandler(label: $0, writer: writer, metadataProvider: nil) }
        base[metadataKey: "conn"] = "7"
        let logger = base
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<250 { logger.info("queued", metadata: ["queue_id": "Q\(t)-\(i)", "size": "42"]) }
        }
        logger.debug("not at the default level")
        writer.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1000)
        let pattern = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info postie: conn=7 queue_id=Q\d-\d+ size=42 \[PostieTests\] queued$/#
        #expect(lines.allSatisfy { $0.wholeMatch(of: pattern) != nil }, "\(lines.first ?? "")")
        #expect(Set(lines.map { $0.split(separator: " ")[4] }).count == 1000, "no line lost or doubled")
        // An error is written before log returns.
        logger.error("disk full")
        let last = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").last ?? ""
        #expect(last.hasSuffix("error postie: conn=7 [PostieTests] disk full"))
    }
}
