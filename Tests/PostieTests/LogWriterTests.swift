import Foundation
import Logging
import Postie
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LogWriterTests {
    /// A writer to a new file, for the length of `body`.
    func withLogFile(_ body: (_ writer: LogWriter, _ path: String) throws -> Void) throws {
        let dir = try TestPaths.temporaryDirectory("log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/postie.log"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        try body(LogWriter(fd: fd), path)
    }

    @Test func linesKeepSwiftLogsFormatAndAllArriveAfterFlush() throws {
        try withLogFile { writer, path in
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

    /// Keys print in order wherever they come from, and a line's own value for a key wins over
    /// the logger's.
    @Test func metadataIsSortedAndTheLinesOwnValueWins() throws {
        try withLogFile { writer, path in
            var logger = Logger(label: "postie") { PostieLogHandler(label: $0, writer: writer, metadataProvider: nil) }
            logger[metadataKey: "conn"] = "7"
            logger[metadataKey: "client"] = "192.0.2.1"
            logger.info("delivered", metadata: ["to": "a@x.test", "b": "1", "zz": "2"])
            logger.info("retried", metadata: ["conn": "8", "a": "3"])
            writer.flush()
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1)[1] }
            #expect(lines == [
                "info postie: b=1 client=192.0.2.1 conn=7 to=a@x.test zz=2 [PostieTests] delivered",
                "info postie: a=3 client=192.0.2.1 conn=8 [PostieTests] retried",
            ])
        }
    }

    /// logfmt: a value with a space, a quote or `=` is quoted, control characters escaped, so a
    /// line is always one line and splits back into its keys.
    @Test func valuesWithSpacesAreQuoted() throws {
        try withLogFile { writer, path in
            let logger = Logger(label: "postie") { PostieLogHandler(label: $0, writer: writer, metadataProvider: nil) }
            logger.info(
                "reject",
                metadata: [
                    "reply": "550 5.1.1 <x@y>: User unknown", "helo": "plain", "text": "say \"hi\"\nbye", "eq": "a=b", "empty": "",
                ])
            writer.flush()
            let line = try String(contentsOfFile: path, encoding: .utf8)
            #expect(line.split(separator: "\n").count == 1)
            #expect(
                line.split(separator: " ", maxSplits: 1)[1]
                    == #"info postie: empty="" eq="a=b" helo=plain reply="550 5.1.1 <x@y>: User unknown" text="say \"hi\"\nbye" [PostieTests] reject"#
                    + "\n")
        }
    }

    /// `log_format = "json"`: one object per line with the same fields, valid JSON whatever the values hold.
    @Test func jsonLinesCarryTheSameFields() throws {
        try withLogFile { writer, path in
            var logger = Logger(label: "postie") { PostieLogHandler(label: $0, writer: writer, format: .json, metadataProvider: nil) }
            logger[metadataKey: "conn"] = "7"
            logger.info("queued", metadata: ["queue_id": "Q1", "reply": "250 2.0.0 \"Ok\"\n\u{1}"])
            writer.flush()
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.split(separator: "\n").count == 1)
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
            #expect(object?["level"] == "info")
            #expect(object?["label"] == "postie")
            #expect(object?["source"] == "PostieTests")
            #expect(object?["message"] == "queued")
            #expect(object?["conn"] == "7")
            #expect(object?["queue_id"] == "Q1")
            #expect(object?["reply"] == "250 2.0.0 \"Ok\"\n\u{1}")
            #expect(object?["time"]?.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/#) != nil)
        }
    }
}

@Suite struct LogCleaningTests {
    /// Text from outside (a remote server's reply, a client's HELO) cannot drive the operator's
    /// terminal, split a line or turn its text around: ESC, NUL, bare CR, C1, U+2028 and U+202E
    /// are written as escapes.
    @Test func hostileTextIsEscaped() throws {
        let dir = try TestPaths.temporaryDirectory("log-clean")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/postie.log"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let writer = LogWriter(fd: fd)
        let logger = Logger(label: "postie") { PostieLogHandler(label: $0, writer: writer, metadataProvider: nil) }
        let hostile = "451 \u{1B}[31mred\u{0}nul\rcr\u{85}nel\u{2028}ls\u{202E}moc.elpmaxe"
        logger.info("exchanger not prepared", metadata: ["reply": .string(hostile), "helo": .string("evil\u{2028}host")])
        logger.info("said \(hostile)")
        writer.flush()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(!text.unicodeScalars.contains { [0x1B, 0x0, 0x0D, 0x85, 0x2028, 0x202E].contains($0.value) }, "\(text.debugDescription)")
        #expect(text.contains(#"reply="451 \u001b[31mred\u0000nul\rcr\u0085nel\u2028ls\u202emoc.elpmaxe""#), "\(text)")
        #expect(text.contains(#"helo="evil\u2028host""#))
    }
}
