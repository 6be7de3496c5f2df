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

    /// `process` handles a batch on the thread; `refuse` answers a request that came after `stop`.
    init(name: String, process: @escaping ([Request]) -> Void, refuse: @escaping (Request) -> Void) {
        self.name = name
        self.process = process
        self.refuse = refuse
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
