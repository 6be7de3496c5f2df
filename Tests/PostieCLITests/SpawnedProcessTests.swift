import Foundation
import Testing
import TestSupport

/// The test helpers start programs with `posix_spawn` (not Foundation's `Process`): what a
/// child gets must be what the tests expect of it.
@Suite struct SpawnedProcessTests {
    @Test func aChildGetsItsInputAndEnvironmentAndReportsItsStatus() throws {
        let result = try Subprocess.run(["sh", "-c", "cat; echo \"$POSTIE_TEST_VALUE\" >&2; exit 3"], stdin: "in\n", environment: ["POSTIE_TEST_VALUE": "v"])
        #expect(result.stdout == "in\n")
        #expect(result.stderr == "v\n")
        #expect(result.status == 3)
    }

    @Test func aChildHoldsOnlyItsStandardDescriptors() throws {
        // Whatever the test process has open (sockets, other children's pipes) stays with it: a
        // pipe end inherited by another child would keep its reader from ever seeing the end.
        // One descriptor here is open without close-on-exec, so only the spawn can keep it out.
        let inheritable = open("/dev/null", O_RDONLY)
        try #require(inheritable >= 0)
        defer { close(inheritable) }
        let held = try Subprocess.run(["sh", "-c", "ls /proc/$$/fd"]).stdout.split(separator: "\n").compactMap { Int($0) }
        #expect(held.sorted() == [0, 1, 2], "\(held)")
    }

    @Test func aKilledChildReportsItsSignal() throws {
        let child = try RunningProcess(["/bin/sleep", "30"])
        child.signal(SIGKILL)
        #expect(child.waitForExit(timeout: 10) == SIGKILL)
    }
}
