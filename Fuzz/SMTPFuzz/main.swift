// libFuzzer entry point. Build and run with Fuzz/run; see docs/security.md.
import FuzzHarness

@_cdecl("LLVMFuzzerTestOneInput")
public func test(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let problems = SMTPFuzzHarness.run(Array(UnsafeRawBufferPointer(start: start, count: count)))
    if !problems.isEmpty { fatalError(problems.joined(separator: "\n")) }
    return 0
}
