import Foundation

/// A thread of its own that handles requests a batch at a time, by the rule of `BatchGate`:
/// while it works on one batch the next one gathers, so under load the batches grow and the fixed
/// cost of each (a sync, a write) is shared by more requests.
///
/// A batch may also leave work unsettled (`process` returns true): a last step that later
/// batches can share, such as the sync of folders that every batch writes into. The thread then
/// calls `settle` once `linger` has passed since the first unsettled batch (whether or not more
/// batches came in the meantime), and before it stops; a batch that settles everything itself
/// returns false.
public final class BatchThread<Request>: @unchecked Sendable {
    private let condition = NSCondition()
    private var gate = BatchGate<Request>()
    /// The batch the gate handed out, until the thread takes it.
    private var ready: [Request]?
    private var stopped = false
    private var running = false
    private let name: String
    private let process: ([Request]) -> Bool
    private let settle: () -> Void
    private let refuse: (Request) -> Void
    private let pollNanoseconds: UInt64
    private let lingerNanoseconds: UInt64
    private let gatherNanoseconds: UInt64

    /// `process` handles a batch on the thread and says whether it left work unsettled; `settle`
    /// finishes all such work, at most `linger` after the first batch that left some; `refuse`
    /// answers a request that came after `stop`.
    /// `poll`: how long the thread keeps looking for work (yielding the CPU in between) after a
    /// batch before it sleeps. On a virtual machine an idle CPU halts, and waking it for the next
    /// request costs a few hundred microseconds: a client sending message after message would
    /// wait that long for every commit. Polling costs nothing under load, when work is always
    /// waiting, and at most `poll` of CPU time per batch when there is little.
    /// `gather`: how long the thread rests after each batch, so that the requests of that time
    /// share the next one (for work whose cost is per batch and whose requests need not wait for
    /// it, such as log lines).
    public init(
        name: String, poll: Duration = .zero, linger: Duration = .zero, gather: Duration = .zero,
        process: @escaping ([Request]) -> Bool, settle: @escaping () -> Void = {}, refuse: @escaping (Request) -> Void
    ) {
        self.name = name
        self.process = process
        self.settle = settle
        self.refuse = refuse
        self.pollNanoseconds = Self.nanoseconds(poll)
        self.lingerNanoseconds = Self.nanoseconds(linger)
        self.gatherNanoseconds = Self.nanoseconds(gather)
    }

    /// A thread whose batches never leave work unsettled.
    public convenience init(
        name: String, poll: Duration = .zero, gather: Duration = .zero, process: @escaping ([Request]) -> Void,
        refuse: @escaping (Request) -> Void
    ) {
        self.init(
            name: name, poll: poll, gather: gather,
            process: {
                process($0)
                return false
            }, refuse: refuse)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    public func start() {
        condition.lock()
        running = true
        condition.unlock()
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    public func submit(_ request: Request) {
        condition.lock()
        if stopped {
            condition.unlock()
            refuse(request)
            return
        }
        // The thread is the one runner: it gets the batch at once.
        if gate.add(request) {
            ready = gate.take()
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Finishes what is queued, then stops the thread and returns.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        // When the unsettled work must be settled (uptime nanoseconds), if there is any.
        var settleBy: UInt64?
        while true {
            if let deadline = settleBy {
                var now = Self.now
                while ready == nil && !stopped && now < deadline {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
                    now = Self.now
                }
                // Settled when due, or (nothing ready, so stopping) before the thread ends.
                if now >= deadline || ready == nil {
                    condition.unlock()
                    settle()
                    condition.lock()
                    settleBy = nil
                    continue
                }
            }
            if ready == nil && !stopped && pollNanoseconds > 0 {
                condition.unlock()
                let until = Self.now + pollNanoseconds
                while Self.now < until {
                    sched_yield()
                    condition.lock()
                    let woken = ready != nil || stopped
                    condition.unlock()
                    if woken { break }
                }
                condition.lock()
            }
            while ready == nil && !stopped { condition.wait() }
            guard let batch = ready else { break }
            ready = nil
            condition.unlock()
            let unsettled = process(batch)
            if gatherNanoseconds > 0 { usleep(useconds_t(gatherNanoseconds / 1000)) }
            condition.lock()
            // What gathered meanwhile (everything, when stopping: `stop` finishes the queue).
            ready = gate.take()
            if !unsettled {
                settleBy = nil
            } else if settleBy == nil {
                settleBy = Self.now + lingerNanoseconds
            }
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
