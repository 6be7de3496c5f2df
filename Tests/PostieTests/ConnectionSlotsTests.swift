@testable import Postie
import Testing
import NIOConcurrencyHelpers

@Suite struct ConnectionSlotsTests {
    /// Runs 20 deliveries to two destinations and records the most at once, in total and per destination.
    @Test func limitsInTotalAndPerDestination() async {
        let slots = ConnectionSlots(total: 3, perDestination: 2)
        let counts = NIOLockedValueBox((now: 0, max: 0, perDomain: [String: Int](), maxPerDomain: 0))
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                let domain = i % 2 == 0 ? "a.test" : "b.test"
                group.addTask {
                    await slots.with(domain) {
                        counts.withLockedValue { c in
                            c.now += 1
                            c.max = max(c.max, c.now)
                            c.perDomain[domain, default: 0] += 1
                            c.maxPerDomain = max(c.maxPerDomain, c.perDomain[domain]!)
                        }
                        try? await Task.sleep(for: .milliseconds(5))
                        counts.withLockedValue { c in
                            c.now -= 1
                            c.perDomain[domain]! -= 1
                        }
                    }
                }
            }
        }
        let c = counts.withLockedValue { $0 }
        #expect(c.max <= 3)
        #expect(c.maxPerDomain <= 2)
        #expect(c.max >= 2)
    }
}
