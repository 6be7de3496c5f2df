/// Limits outbound connections in total: a delivery waits for a slot instead of opening one more
/// connection than the configuration allows. (Connections per destination are the
/// `DestinationBatcher`'s to limit.)
actor ConnectionSlots {
    private let total: Int
    private var inUse = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(total: Int) {
        self.total = max(1, total)
    }

    func acquire() async {
        if inUse < total {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        // The slot passes straight to the first waiter, if any.
        if waiters.isEmpty {
            inUse -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs the body holding a slot.
    func with<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        await acquire()
        let result = await body()
        release()
        return result
    }
}
