import Foundation

/// A `C:`/`S:` dialogue, run in memory against the session and live against the server.
///
/// - `C: text` sends `text` and CRLF; `C! text` sends `text` as it stands. In both, `\r`, `\n`,
///   `\t`, `\0` and `\\` stand for their octets. Consecutive client lines go out together, as a
///   pipelining client sends them.
/// - `S: prefix` expects the next reply line to start with `prefix`.
/// - `S: <close>` expects the server to close the connection.
/// - `#` starts a comment line.
public struct Transcript: Sendable {
    public enum Step: Sendable, Equatable {
        case send([UInt8])
        case expect(String)
        case expectClose
    }

    public var name: String
    public var steps: [Step]

    public init(name: String, text: String) {
        self.name = name
        var steps: [Step] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("C:") {
                var body = String(line.dropFirst(2))
                if body.hasPrefix(" ") { body.removeFirst() }
                steps.append(.send(Transcript.unescape(body) + [13, 10]))
            } else if line.hasPrefix("C!") {
                var body = String(line.dropFirst(2))
                if body.hasPrefix(" ") { body.removeFirst() }
                steps.append(.send(Transcript.unescape(body)))
            } else if line.hasPrefix("S:") {
                let body = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
                steps.append(body == "<close>" ? .expectClose : .expect(body))
            }
        }
        self.steps = steps
    }

    static func unescape(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = Array(s.utf8).makeIterator()
        while let b = iterator.next() {
            guard b == UInt8(ascii: "\\"), let n = iterator.next() else {
                out.append(b)
                continue
            }
            switch n {
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "0"): out.append(0)
            default: out.append(n)
            }
        }
        return out
    }

    /// Groups of (what the client sends at once, what it then expects).
    public var exchanges: [(send: [UInt8], expect: [Step])] {
        var result: [(send: [UInt8], expect: [Step])] = []
        var send: [UInt8] = []
        var expect: [Step] = []
        for step in steps {
            switch step {
            case .send(let bytes):
                if !expect.isEmpty {
                    result.append((send, expect))
                    send = []
                    expect = []
                }
                send += bytes
            case .expect, .expectClose:
                expect.append(step)
            }
        }
        if !send.isEmpty || !expect.isEmpty { result.append((send, expect)) }
        return result
    }

    /// Checks reply lines against the expected steps; returns the problems found.
    public static func compare(_ lines: [String], closed: Bool, with expected: [Step]) -> [String] {
        var problems: [String] = []
        var index = 0
        for step in expected {
            switch step {
            case .expect(let prefix):
                if index < lines.count {
                    if !lines[index].hasPrefix(prefix) { problems.append("expected '\(prefix)…', got '\(lines[index])'") }
                } else {
                    problems.append("expected '\(prefix)…', got nothing")
                }
                index += 1
            case .expectClose:
                if !closed { problems.append("expected the connection to close") }
            case .send:
                break
            }
        }
        if index < lines.count { problems.append("unexpected replies: \(lines[index...])") }
        return problems
    }

    /// The reply lines the steps expect.
    public static func expectedLineCount(_ steps: [Step]) -> Int {
        steps.filter { if case .expect = $0 { return true } else { return false } }.count
    }

    /// The transcripts in `Tests/Transcripts`.
    public static func all() throws -> [Transcript] {
        let dir = TestPaths.packageRoot + "/Tests/Transcripts"
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".smtp") }.sorted().map {
            Transcript(name: $0, text: try String(contentsOfFile: dir + "/" + $0, encoding: .utf8))
        }
    }

    public static var names: [String] {
        (try? all().map(\.name)) ?? []
    }

    public static func named(_ name: String) throws -> Transcript {
        guard let t = try all().first(where: { $0.name == name }) else { throw CocoaError(.fileNoSuchFile) }
        return t
    }
}

public enum TestPaths {
    /// The package's root folder, found from this file's place in it.
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// A fresh empty folder under the system's temporary folder.
    public static func temporaryDirectory(_ name: String = "postie-test") throws -> String {
        let path = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension TestPaths {
    /// The `postie` executable built beside the test bundle.
    public static var postieBinary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("postie").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for config in ["debug", "release"] {
            let path = packageRoot + "/.build/\(config)/postie"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return beside
    }
}
