import Foundation

/// A thread of its own that takes everything queued since it last looked and handles it as one
/// batch: the shape of group commit. While it works on one batch the next one gathers, so under
/// load the batches grow and the fixed cost of each (a sync) is shared by more requests.
///
/// A batch may also leave work unsettled (`process` returns true): a last step that later
/// batches can share, such as the sync of folders that every batch writes into. The thread then
/// calls `settle` once `linger` has passed since the first unsettled batch (whether or not more
/// batches came in the meantime), and before it stops; a batch that settles everything itself
/// returns false.
final class BatchThread<Request>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var stopped = false
    private var running = false
    private let name: String
    private let process: ([Request]) -> Bool
    private let settle: () -> Void
    private let refuse: (Request) -> Void
    private let pollNanoseconds: UInt64
    private let lingerNanoseconds: UInt64

    /// `process` handles a batch on the thread and says whether it left work unsettled; `settle`
    /// finishes all such work, at most `linger` after the first batch that left some; `refuse`
    /// answers a request that came after `stop`.
    /// `poll`: how long the thread keeps looking for work (yielding the CPU in between) after a
    /// batch before it sleeps. On a virtual machine an idle CPU halts, and waking it for the next
    /// request costs a few hundred microseconds: a client sending message after message would
    /// wait that long for every commit. Polling costs nothing under load, when work is always
    /// waiting, and at most `poll` of CPU time per batch when there is little.
    init(
        name: String, poll: Duration = .zero, linger: Duration = .zero, process: @escaping ([Request]) -> Bool,
        settle: @escaping () -> Void = {}, refuse: @escaping (Request) -> Void
    ) {
        self.name = name
        self.process = process
        self.settle = settle
        self.refuse = refuse
        self.pollNanoseconds = Self.nanoseconds(poll)
        self.lingerNanoseconds = Self.nanoseconds(linger)
    }

    /// A thread whose batches never leave work unsettled.
    convenience init(name: String, poll: Duration = .zero, process: @escaping ([Request]) -> Void, refuse: @escaping (Request) -> Void) {
        self.init(
            name: name, poll: poll,
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

    func start() {
        condition.lock()
        running = true
        condition.unlock()
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func submit(_ request: Request) {
        condition.lock()
        if stopped {
            condition.unlock()
            refuse(request)
            return
        }
        queue.append(request)
        condition.broadcast()
        condition.unlock()
    }

    /// Finishes what is queued, then stops the thread and returns.
    func stop() {
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
                while queue.isEmpty && !stopped && now < deadline {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
                    now = Self.now
                }
                // Settled when due, or (the queue empty, so stopping) before the thread ends.
                if now >= deadline || queue.isEmpty {
                    condition.unlock()
                    settle()
                    condition.lock()
                    settleBy = nil
                    continue
                }
            }
            if queue.isEmpty && !stopped && pollNanoseconds > 0 {
                condition.unlock()
                let until = Self.now + pollNanoseconds
                while Self.now < until {
                    sched_yield()
                    condition.lock()
                    let ready = !queue.isEmpty || stopped
                    condition.unlock()
                    if ready { break }
                }
                condition.lock()
            }
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped { break }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            condition.unlock()
            let unsettled = process(batch)
            condition.lock()
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
