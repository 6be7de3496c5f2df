/// The rule of group commit, written once for every place that batches: requests gather while a
/// batch is being handled, and when it finishes, what gathered meanwhile becomes the next batch.
/// Under load the batches grow by themselves, so a fixed cost per batch (a sync, a `write(2)`, an
/// SMTP connection) is shared by more requests; with little load a request starts at once, alone.
///
/// Batches are handled by runners, at most `limit` at once (1 for a file or a thread, the
/// connections allowed to one destination for the relay); a runner takes batches of at most
/// `maxBatch` requests until none waits. The gate is a value with no I/O and no lock: its owner
/// keeps it where it already runs (under a lock on a thread of its own, on an event loop, in an
/// actor) and runs the runners. A runner may take its first batch later than the `add` that
/// started it (a task that hops to an actor): what arrived in between goes with it.
///
/// Users: `BatchThread` (the spool's commits and removals, Maildir deliveries, log lines),
/// `SpoolWriter` (a large message's writes) and the relay's `DestinationBatcher`.
public struct BatchGate<Request> {
    /// Requests that wait for a batch.
    public private(set) var waiting: [Request] = []
    /// Runners started and not yet stopped.
    public private(set) var runners = 0
    public let limit: Int
    public let maxBatch: Int

    public init(limit: Int = 1, maxBatch: Int = .max) {
        self.limit = max(1, limit)
        self.maxBatch = max(1, maxBatch)
    }

    /// Nothing waits and no runner runs.
    public var isIdle: Bool { runners == 0 && waiting.isEmpty }

    /// Adds a request; true when the caller must start a runner (fewer than `limit` run), which
    /// calls `take` until it gets nil.
    public mutating func add(_ request: Request) -> Bool {
        waiting.append(request)
        return claimRunner()
    }

    /// Adds several requests at once, in order; true as for `add`.
    public mutating func add(contentsOf requests: some Sequence<Request>) -> Bool {
        waiting.append(contentsOf: requests)
        return !waiting.isEmpty && claimRunner()
    }

    /// A runner's next batch (its previous one finished): what waits, up to `maxBatch`; nil when
    /// nothing waits, and the runner stops.
    public mutating func take() -> [Request]? {
        precondition(runners > 0, "BatchGate.take without a runner")
        guard !waiting.isEmpty else {
            runners -= 1
            return nil
        }
        guard waiting.count > maxBatch else {
            defer { waiting.removeAll(keepingCapacity: true) }
            return waiting
        }
        let batch = Array(waiting.prefix(maxBatch))
        waiting.removeFirst(maxBatch)
        return batch
    }

    /// Takes back the requests that wait (a writer aborted); the batches taken still finish.
    public mutating func dropWaiting() {
        waiting.removeAll()
    }

    private mutating func claimRunner() -> Bool {
        guard runners < limit else { return false }
        runners += 1
        return true
    }
}
