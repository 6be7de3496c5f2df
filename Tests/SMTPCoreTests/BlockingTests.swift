import Foundation
import TestSupport
import Testing

/// The tests' `blocking {}` leaves Swift's cooperative threads yet stays in the test's task, so
/// that an expectation failing inside it is the test's own.
struct BlockingTests {
    @Test func blockingWorkKeepsItsTestAndLeavesTheCooperativePool() async throws {
        let (test, marked) = try await blocking { (Test.current?.name, DispatchQueue.getSpecific(key: BlockingExecutor.marker) ?? false) }
        #expect(test == "blockingWorkKeepsItsTestAndLeavesTheCooperativePool()")
        #expect(marked, "ran on the blocking executor's queue")
        // Nested and thrown errors come through as before.
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await blocking { throw Refused() } }
    }
}
