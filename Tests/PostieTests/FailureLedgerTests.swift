import NIOCore
import Testing

@testable import Postie

/// The AUTH limiter's policy on a virtual clock.
@Suite struct FailureLedgerTests {
    let window = TimeAmount.seconds(900)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Twenty connections at once from one address get as many checks as the limit, not twenty:
    /// an attempt counts from its admission, before its password is checked.
    @Test func attemptsAreCountedBeforeTheCheck() {
        var ledger = FailureLedger()
        var admitted = 0
        for _ in 0..<20 {
            if case .check = ledger.admit(client: "192.0.2.7", account: "bob", now: start, window: window, maxFailures: 5) { admitted += 1 }
        }
        #expect(admitted == 5)
        // A check that succeeds gives its place back; failures keep theirs until they age out.
        ledger.finish(client: "192.0.2.7", account: "bob", failed: false, now: start, window: window)
        #expect(ledger.admit(client: "192.0.2.7", account: "bob", now: start, window: window, maxFailures: 5) == .check(accountFailures: 0))
        for _ in 0..<5 { ledger.finish(client: "192.0.2.7", account: "bob", failed: true, now: start, window: window) }
        #expect(ledger.admit(client: "192.0.2.7", account: "bob", now: start + .seconds(899), window: window, maxFailures: 5) == .refused(failures: 5))
        #expect(ledger.admit(client: "192.0.2.7", account: "bob", now: start + .seconds(901), window: window, maxFailures: 5) == .check(accountFailures: 0))
    }

    /// Ten addresses × five guesses at bob: an eleventh address is let in to try, but slowed,
    /// the right password too; nobody is locked out.
    @Test func anAccountUnderAttackIsSlowedNotLocked() {
        var ledger = FailureLedger()
        for n in 0..<10 {
            for _ in 0..<5 {
                _ = ledger.admit(client: "198.51.100.\(n)", account: "bob", now: start, window: window, maxFailures: 5)
                ledger.finish(client: "198.51.100.\(n)", account: "bob", failed: true, now: start, window: window)
            }
        }
        let admission = ledger.admit(client: "203.0.113.1", account: "bob", now: start, window: window, maxFailures: 5)
        #expect(admission == .check(accountFailures: 50))
        let wait = FailureLedger.accountDelay(failures: 50, maxFailures: 5, delay: .seconds(1), longest: .seconds(30))
        #expect(wait == .seconds(30))
        #expect(FailureLedger.accountDelay(failures: 4, maxFailures: 5, delay: .seconds(1), longest: .seconds(30)) == .zero)
        #expect(FailureLedger.accountDelay(failures: 6, maxFailures: 5, delay: .seconds(1), longest: .seconds(30)) == .seconds(2))
        // Another account is not slowed by bob's troubles.
        #expect(ledger.admit(client: "203.0.113.1", account: "alice", now: start, window: window, maxFailures: 5) == .check(accountFailures: 0))
    }

    /// One IPv6 subscriber has a whole /64: its addresses share one count.
    @Test func ipv6ClientsAreCountedPer64() {
        #expect(FailureLedger.clientKey("2001:db8:1:2::1") == FailureLedger.clientKey("2001:db8:1:2:ffff:eeee:dddd:cccc"))
        #expect(FailureLedger.clientKey("2001:db8:1:2::1") != FailureLedger.clientKey("2001:db8:1:3::1"))
        #expect(FailureLedger.clientKey("2001:db8:1:2::1") == "2001:db8:1:2::/64")
        #expect(FailureLedger.clientKey("::ffff:192.0.2.1") == "192.0.2.1")
        #expect(FailureLedger.clientKey("192.0.2.1") == "192.0.2.1")
        var ledger = FailureLedger()
        for n in 1...5 {
            _ = ledger.admit(client: "2001:db8:1:2::\(n)", account: "bob", now: start, window: window, maxFailures: 5)
            ledger.finish(client: "2001:db8:1:2::\(n)", account: "bob", failed: true, now: start, window: window)
        }
        #expect(ledger.admit(client: "2001:db8:1:2::99", account: "x", now: start, window: window, maxFailures: 5) == .refused(failures: 5))
    }
}
