/// Limits outbound connections in total and per destination: a delivery waits for a slot
/// instead of opening one more connection than the configuration allows.
actor ConnectionSlots {
    private let total: Int
    private let perDestination: Int
    private var inUse = 0
    private var byDestination: [String: Int] = [:]
    private var waiters: [(destination: String, continuation: CheckedContinuation<Void, Never>)] = []

    init(total: Int, perDestination: Int) {
        self.total = max(1, total)
        self.perDestination = max(1, perDestination)
    }

    private func available(_ destination: String) -> Bool {
        inUse < total && byDestination[destination, default: 0] < perDestination
    }

    func acquire(_ destination: String) async {
        if available(destination) {
            take(destination)
            return
        }
        await withCheckedContinuation { waiters.append((destination, $0)) }
    }

    private func take(_ destination: String) {
        inUse += 1
        byDestination[destination, default: 0] += 1
    }

    func release(_ destination: String) {
        inUse -= 1
        let n = byDestination[destination, default: 1] - 1
        byDestination[destination] = n > 0 ? n : nil
        // Wake the first waiter that can go now.
        if let index = waiters.firstIndex(where: { available($0.destination) }) {
            let waiter = waiters.remove(at: index)
            take(waiter.destination)
            waiter.continuation.resume()
        }
    }

    /// Runs the body holding a slot for the destination.
    func with<T: Sendable>(_ destination: String, _ body: @Sendable () async -> T) async -> T {
        await acquire(destination)
        let result = await body()
        release(destination)
        return result
    }
}
