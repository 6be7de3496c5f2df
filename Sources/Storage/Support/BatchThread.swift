import Foundation

/// A thread of its own that takes everything queued since it last looked and handles it as one
/// batch: the shape of group commit. While it works on one batch the next one gathers, so under
/// load the batches grow and the fixed cost of each (a sync) is shared by more requests.
final class BatchThread<Request>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var stopped = false
    private var running = false
    private let name: String
    private let process: ([Request]) -> Void
    private let refuse: (Request) -> Void
    private let pollNanoseconds: UInt64

    /// `process` handles a batch on the thread; `refuse` answers a request that came after `stop`.
    /// `poll`: how long the thread keeps looking for work (yielding the CPU in between) after a
    /// batch before it sleeps. On a virtual machine an idle CPU halts, and waking it for the next
    /// request costs a few hundred microseconds: a client sending message after message would
    /// wait that long for every commit. Polling costs nothing under load, when work is always
    /// waiting, and at most `poll` of CPU time per batch when there is little.
    init(name: String, poll: Duration = .zero, process: @escaping ([Request]) -> Void, refuse: @escaping (Request) -> Void) {
        self.name = name
        self.process = process
        self.refuse = refuse
        let (seconds, attoseconds) = poll.components
        self.pollNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

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
        while true {
            if queue.isEmpty && !stopped && pollNanoseconds > 0 {
                condition.unlock()
                let until = DispatchTime.now().uptimeNanoseconds + pollNanoseconds
                while DispatchTime.now().uptimeNanoseconds < until {
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
            process(batch)
            condition.lock()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
