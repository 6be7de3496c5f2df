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

    @Test func harnessNoticesABrokenInvariant() {
        // A message whose committed data holds a bare LF would be reported: check the helper the
        // invariants rest on, since a harness that never complains proves nothing.
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r\nb\nc\r\n".utf8)) == 4)
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r\nb\r\n".utf8)) == nil)
        #expect(SMTPFuzzHarness.bareLineEnding(Array("a\r".utf8)) == 1)
    }
}
