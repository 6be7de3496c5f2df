#if canImport(Glibc)
import Glibc
#endif
import CMalloc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage

/// When to give the memory of a storm of connections back to the system, once it has passed.
/// Every open connection holds a few KiB (more while a message is held in memory); glibc keeps
/// what they free in its arenas for reuse, so after 10,000 idle connections have come and gone
/// the process would stay some 60 MiB larger until it exits. Pure: `HeapTrimmer` runs it.
struct HeapTrimPolicy {
    /// Smaller peaks are not worth a trim: their memory is a few MiB, which the next
    /// connections reuse.
    let minimumPeak: Int
    /// The highest number of connections open at once since the last trim.
    private var peak = 0

    init(minimumPeak: Int = 500) {
        self.minimumPeak = minimumPeak
    }

    /// Called at every check with the connections open now and the most that were open at once
    /// since the previous check. When a storm has passed (no more than a quarter of its
    /// connections are left) and its memory should be returned now, returns the storm's peak.
    /// The peak then starts again from the connections left, so their memory goes back too once
    /// enough of them are gone.
    mutating func check(current: Int, peakSinceLastCheck: Int) -> Int? {
        peak = max(peak, peakSinceLastCheck, current)
        guard peak >= minimumPeak, current * 4 <= peak else { return nil }
        defer { peak = current }
        return peak
    }
}

/// Checks every few seconds whether a storm of connections has passed (`HeapTrimPolicy`) and, if
/// so, trims the heap with glibc's `malloc_trim` on the thread pool (it walks every arena, which
/// may take milliseconds: never on an event loop), and logs what was returned. Elsewhere than
/// glibc the trim does nothing.
final class HeapTrimmer: Sendable {
    static let interval = TimeAmount.seconds(5)
    private let task: RepeatedTask

    /// `connections`: the connections open now and the most open at once since the last call.
    /// `trimmed` is told of each trim (for tests).
    init(
        connections: @escaping @Sendable () -> (current: Int, peak: Int), policy: HeapTrimPolicy = HeapTrimPolicy(),
        interval: TimeAmount = HeapTrimmer.interval, eventLoop: EventLoop, threadPool: NIOThreadPool, logger: Logger,
        trimmed: @escaping @Sendable () -> Void = {}
    ) {
        let policy = NIOLockedValueBox(policy)
        task = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (current, peakSinceLastCheck) = connections()
            guard let peak = policy.withLockedValue({ $0.check(current: current, peakSinceLastCheck: peakSinceLastCheck) }) else {
                return
            }
            threadPool.submit { state in
                guard case .active = state else { return }
                let before = Self.residentMiB()
                _ = postie_malloc_trim()
                let after = Self.residentMiB()
                logger.info(
                    "returned the memory of a passed storm of connections",
                    metadata: [
                        "connections": "\(current)", "peak_connections": "\(peak)",
                        "rss_mib_before": .string(before.map { "\($0)" } ?? "?"), "rss_mib_after": .string(after.map { "\($0)" } ?? "?"),
                    ])
                trimmed()
            }
        }
    }

    func cancel() { task.cancel() }

    /// The process's resident memory in MiB, from `/proc/self/statm` (Linux); nil elsewhere.
    static func residentMiB() -> Int? {
        #if canImport(Glibc)
        guard let statm = try? POSIXFile.readAll("/proc/self/statm") else { return nil }
        // "size resident shared …", in pages.
        let fields = statm.split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / (1024 * 1024)
        #else
        return nil
        #endif
    }
}
