import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import Postie
import SMTPNIO
import Testing

@Suite struct HeapTrimmerTests {
    func trims(_ policy: inout HeapTrimPolicy, current: Int, peakSinceLastCheck: Int) -> Bool {
        policy.check(current: current, peakSinceLastCheck: peakSinceLastCheck) != nil
    }

    @Test func aPassedStormIsTrimmedAndSmallOnesNever() {
        var policy = HeapTrimPolicy(minimumPeak: 500)
        // Small peaks, however far they fall: their memory is reused.
        #expect(!trims(&policy, current: 300, peakSinceLastCheck: 499))
        #expect(!trims(&policy, current: 0, peakSinceLastCheck: 300))
        // A storm under way, then half gone: not yet.
        #expect(!trims(&policy, current: 9_000, peakSinceLastCheck: 10_000))
        #expect(!trims(&policy, current: 5_000, peakSinceLastCheck: 9_000))
        // A quarter left: its memory goes back, and the peak starts again from what is left.
        let storm = policy.check(current: 2_500, peakSinceLastCheck: 5_000)
        #expect(storm == 10_000)
        #expect(!trims(&policy, current: 2_500, peakSinceLastCheck: 2_500))
        // Those 2,500 gone too: enough for another trim; the last hundred are not.
        #expect(trims(&policy, current: 100, peakSinceLastCheck: 2_500))
        #expect(!trims(&policy, current: 0, peakSinceLastCheck: 100))
        // A storm that came and went between two checks is seen through its peak.
        #expect(trims(&policy, current: 3, peakSinceLastCheck: 800))
        #expect(!trims(&policy, current: 0, peakSinceLastCheck: 3))
    }

    @Test func theLimiterReportsThePeakSinceItLastLooked() {
        let limiter = ConnectionLimiter(maxTotal: 100, maxPerClient: 100)
        for _ in 0..<30 { #expect(limiter.acquire("192.0.2.1")) }
        for _ in 0..<25 { limiter.release("192.0.2.1") }
        #expect(limiter.takePeak() == (current: 5, peak: 30))
        #expect(limiter.takePeak() == (current: 5, peak: 5))
        #expect(limiter.acquire("192.0.2.2"))
        limiter.release("192.0.2.2")
        #expect(limiter.takePeak() == (current: 5, peak: 6))
    }

    @Test func theTrimmerTrimsOnTheThreadPoolAfterAStorm() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        // Readings the trimmer takes in turn: a storm, then a quarter of it, then quiet.
        let readings = NIOLockedValueBox([(current: 800, peak: 1_000), (current: 200, peak: 800), (current: 0, peak: 200)])
        let trims = NIOLockedValueBox(0)
        let trimmer = HeapTrimmer(
            connections: { readings.withLockedValue { $0.count > 1 ? $0.removeFirst() : $0[0] } },
            policy: HeapTrimPolicy(minimumPeak: 500), interval: .milliseconds(10),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), threadPool: pool, logger: Logger(label: "test"),
            trimmed: { trims.withLockedValue { $0 += 1 } })
        let deadline = ContinuousClock.now + .seconds(10)
        while readings.withLockedValue({ $0.count > 1 }) || trims.withLockedValue({ $0 }) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100))  // more quiet checks: no more trims
        trimmer.cancel()
        try await pool.shutdownGracefully()
        #expect(trims.withLockedValue { $0 } == 1)
        #expect(HeapTrimmer.residentMiB().map { $0 > 0 } == true)
    }
}
