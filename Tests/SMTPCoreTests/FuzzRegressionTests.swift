import Foundation
import FuzzHarness
import TestSupport
import Testing

/// Replays the fuzzer's seed corpus and every input that once broke it (Fuzz/regressions) through
/// the same harness, so a fixed crash stays fixed without running the fuzzer.
@Suite struct FuzzRegressionTests {
    static func inputs(_ folder: String) -> [String] {
        let dir = TestPaths.packageRoot + "/Fuzz/" + folder
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") && $0 != "README.md" }
            .sorted().map { dir + "/" + $0 }
    }

    @Test func corpusIsThere() {
        #expect(Self.inputs("corpus").count >= 50)
    }

    @Test(arguments: inputs("corpus") + inputs("regressions"))
    func inputHoldsEveryInvariant(path: String) throws {
        let data = try #require(FileManager.default.contents(atPath: path))
        let problems = SMTPFuzzHarness.run(Array(data))
        #expect(problems.isEmpty, "\(URL(fileURLWithPath: path).lastPathComponent): \(problems.prefix(3))")
    }

    /// The admin part of the harness runs the listener's real HTTP pipeline: pipelined requests,
    /// a chunked body, HTTP/1.0 closing, and garbage answered 400.
    @Test func adminPipelineServesAsTheListenerWould() {
        let stream = Array(
            ("GET /api/queue?limit=5&domain=Ex%41mple HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /api/queue/ABC/hold HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                + "PUT /metrics HTTP/1.0\r\n\r\nGET /never HTTP/1.1\r\n\r\n").utf8)
        let served = SMTPFuzzHarness.serveAdmin([stream])
        #expect(served.requests.map(\.path) == ["/api/queue", "/api/queue/ABC/hold", "/metrics"], "HTTP/1.0 closes after its answer")
        #expect(served.requests.first?.query == ["limit": "5", "domain": "ExAmple"])
        #expect(served.requests.dropFirst().first?.body == Array("abc".utf8))
        // (SwiftNIO's pipeline answers the bytes past HTTP/1.0's close with 400 before closing.)
        #expect(served.answers.prefix(3) == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.0 405 Method Not Allowed"])
        #expect(SMTPFuzzHarness.checkAdminHTTP(stream, SMTPFuzzHarness.cut(stream, seed: 3)) == [])

        let garbage = SMTPFuzzHarness.serveAdmin([Array("GET / HTTP/1.1\r\nBad Header\r\n\r\n".utf8)])
        #expect(garbage.requests.isEmpty)
        #expect(garbage.answers == ["HTTP/1.1 400 Bad Request"])
    }

    @Test func harnessNoticesABrokenInvariant() {
        // A message whose committed data holds a bare LF would be reported: check the helper the
        // invariants rest on, since a harness that never complains proves nothing.
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r\nb\nc\r\n".utf8)) == 4)
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r\nb\r\n".utf8)) == nil)
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r".utf8)) == 1)
    }
}
