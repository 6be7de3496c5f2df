#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore

/// The queue's sense of time: what time it is (Unix seconds, the unit of the spool's envelopes),
/// and a timer. The server uses the system's; tests use a manual one and move it forward, so that
/// retries, expiry and delay notices are tested in milliseconds without a sleep.
public protocol QueueClock: Sendable {
    func now() -> Int64
    /// Calls `work` once `seconds` have passed (at once for zero or less).
    func schedule(in seconds: Int64, _ work: @escaping @Sendable () -> Void) -> QueueTimer
}

/// A scheduled call, which may be cancelled before it runs.
public struct QueueTimer: Sendable {
    private let cancelBody: @Sendable () -> Void

    public init(cancel: @escaping @Sendable () -> Void) {
        cancelBody = cancel
    }

    public func cancel() { cancelBody() }
}

/// Wall-clock time and an event loop's timers.
public struct SystemQueueClock: QueueClock {
    let eventLoop: EventLoop

    public init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    public func now() -> Int64 { Int64(time(nil)) }

    public func schedule(in seconds: Int64, _ work: @escaping @Sendable () -> Void) -> QueueTimer {
        let task = eventLoop.scheduleTask(in: .seconds(max(0, seconds)), work)
        return QueueTimer { task.cancel() }
    }
}

/// Time that moves only when told (`advance(by:)`): the timers due run then, in order of their
/// time, on the caller's thread. For tests of the queue's policy, and for programs that embed
/// the queue and test their own.
public final class ManualQueueClock: QueueClock {
    private struct Timer {
        var due: Int64
        var number: Int
        var work: @Sendable () -> Void
    }
    private struct State {
        var now: Int64
        var timers: [Int: Timer] = [:]
        var next = 0
    }
    private let state: NIOLockedValueBox<State>

    public init(now: Int64) {
        state = NIOLockedValueBox(State(now: now))
    }

    public func now() -> Int64 { state.withLockedValue { $0.now } }

    /// Timers not yet run.
    public var pending: Int { state.withLockedValue { $0.timers.count } }

    public func schedule(in seconds: Int64, _ work: @escaping @Sendable () -> Void) -> QueueTimer {
        let number = state.withLockedValue { s -> Int in
            s.next += 1
            s.timers[s.next] = Timer(due: s.now + max(0, seconds), number: s.next, work: work)
            return s.next
        }
        return QueueTimer { [state] in state.withLockedValue { _ = $0.timers.removeValue(forKey: number) } }
    }

    /// Moves time forward, running each timer that falls due on the way at its own time.
    public func advance(by seconds: Int64) {
        let end = state.withLockedValue { $0.now + seconds }
        while true {
            let due = state.withLockedValue { s -> Timer? in
                guard let first = s.timers.values.filter({ $0.due <= end }).min(by: { ($0.due, $0.number) < ($1.due, $1.number) }) else {
                    s.now = end
                    return nil
                }
                s.timers.removeValue(forKey: first.number)
                s.now = max(s.now, first.due)
                return first
            }
            guard let due else { return }
            due.work()
        }
    }
}
