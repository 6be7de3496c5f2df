@testable import Delivery
import Testing
import NIOConcurrencyHelpers

@Suite struct ConnectionSlotsTests {
    /// Runs 20 deliveries and records the most at once: never more than the slots.
    @Test func limitsInTotal() async {
        let slots = ConnectionSlots(total: 3)
        let counts = NIOLockedValueBox((now: 0, max: 0, done: 0))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    await slots.with {
                        counts.withLockedValue { c in
                            c.now += 1
                            c.max = max(c.max, c.now)
                        }
                        // Hold the slot a moment so that others queue behind it.
                        try? await Task.sleep(for: .milliseconds(5))
                        counts.withLockedValue { c in
                            c.now -= 1
                            c.done += 1
                        }
                    }
                }
            }
        }
        let c = counts.withLockedValue { $0 }
        #expect(c.max <= 3)
        #expect(c.max >= 2)
        #expect(c.done == 20)
    }
}
