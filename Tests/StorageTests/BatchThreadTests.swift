import Foundation
import NIOConcurrencyHelpers
@testable import Storage
import Testing

@Suite struct BatchThreadTests {
    /// What the thread did, in order: "p<n>" for a batch of n, "s" for a settle.
    final class Log: Sendable {
        let steps = NIOLockedValueBox<[String]>([])
        func add(_ step: String) { steps.withLockedValue { $0.append(step) } }
        var all: [String] { steps.withLockedValue { $0 } }
    }

    func lingering(_ log: Log, linger: Duration, unsettled: Bool = true) -> BatchThread<Int> {
        BatchThread<Int>(
            name: "test-batch", linger: linger,
            process: { batch in
                log.add("p\(batch.count)")
                return unsettled
            },
            settle: { log.add("s") }, refuse: { _ in log.add("refused") })
    }

    @Test func unsettledWorkIsSettledOnceForManyBatchesAndBeforeTheThreadStops() {
        let log = Log()
        // A linger far longer than the test: only `stop` can bring the settle.
        let thread = lingering(log, linger: .seconds(600))
        thread.start()
        for n in 0..<20 { thread.submit(n) }
        thread.stop()
        let steps = log.all
        #expect(steps.last == "s")
        #expect(steps.filter { $0 == "s" }.count == 1)
        #expect(steps.dropLast().map { Int($0.dropFirst())! }.reduce(0, +) == 20)
        thread.submit(99)
        #expect(log.all.last == "refused")
    }

    @Test func unsettledWorkIsSettledWhenTheLingerHasPassedWithoutMoreBatches() async throws {
        let log = Log()
        let thread = lingering(log, linger: .milliseconds(20))
        thread.start()
        thread.submit(1)
        let deadline = ContinuousClock.now + .seconds(10)
        while log.all != ["p1", "s"], ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(log.all == ["p1", "s"])
        thread.stop()
        #expect(log.all == ["p1", "s"])
    }

    @Test func aSteadyStreamOfBatchesIsSettledByTheLingerNotPutOffForever() async throws {
        let log = Log()
        let done = NIOLockedValueBox(false)
        // Each batch submits the next request before it returns, so the thread always finds
        // work waiting: a settle can only come from the linger's deadline passing, never from a
        // pause. 200 batches of at least 1 ms each outlast a 20 ms linger many times over.
        final class Box: @unchecked Sendable { var thread: BatchThread<Int>? }
        let box = Box()
        let thread = BatchThread<Int>(
            name: "test-batch", linger: .milliseconds(20),
            process: { batch in
                log.add("p\(batch.count)")
                Thread.sleep(forTimeInterval: 0.001)
                if let last = batch.last, last < 200 {
                    box.thread!.submit(last + 1)
                } else {
                    done.withLockedValue { $0 = true }
                }
                return true
            },
            settle: { log.add("s") }, refuse: { _ in })
        box.thread = thread
        thread.start()
        thread.submit(1)
        let deadline = ContinuousClock.now + .seconds(60)
        while !done.withLockedValue({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        thread.stop()
        let steps = log.all
        #expect(steps.filter { $0 == "p1" }.count == 200)
        // Settled in the middle of the stream, between batches, not only at the stop.
        let settlesBeforeLastBatch = steps[..<steps.lastIndex(of: "p1")!].filter { $0 == "s" }.count
        #expect(settlesBeforeLastBatch >= 1, "\(steps)")
    }

    @Test func workThatSettlesItselfIsNeverSettledAgain() {
        let log = Log()
        let thread = lingering(log, linger: .milliseconds(1), unsettled: false)
        thread.start()
        for n in 0..<5 { thread.submit(n) }
        thread.stop()
        #expect(!log.all.contains("s"))
    }
}
