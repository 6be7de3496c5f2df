#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

/// Makes queue ids that sort by arrival: microseconds since 1970 in hex, then a counter that
/// mixes in the process id, so that ids from concurrent processes (the server and `sendmail`) do
/// not collide; the spool still opens files exclusively and asks again on a clash.
public final class QueueIDGenerator: Sendable {
    private let counter = NIOLockedValueBox<UInt32>(0)
    private let salt: UInt32

    public init() {
        salt = UInt32(truncatingIfNeeded: getpid()) &* 2_654_435_761
    }

    public func next() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let micros = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000)
        let n = counter.withLockedValue { c -> UInt32 in
            c &+= 1
            return c
        }
        let tail = (n &+ salt) & 0xFFFFF
        let hex = String(tail, radix: 16, uppercase: true)
        return String(micros, radix: 16, uppercase: true) + String(repeating: "0", count: 5 - hex.count) + hex
    }
}
