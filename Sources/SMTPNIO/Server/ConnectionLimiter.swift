import NIOConcurrencyHelpers

/// Counts connections in total and per client address, shared by all event loops.
public final class ConnectionLimiter: Sendable {
    private struct State {
        var total = 0
        var perClient: [String: Int] = [:]
        /// The most open at once since `takePeak` last looked.
        var peak = 0
        var maxTotal: Int
        var maxPerClient: Int
    }

    private let state: NIOLockedValueBox<State>
    public var maxTotal: Int { state.withLockedValue { $0.maxTotal } }
    public var maxPerClient: Int { state.withLockedValue { $0.maxPerClient } }

    public init(maxTotal: Int, maxPerClient: Int) {
        state = NIOLockedValueBox(State(maxTotal: maxTotal, maxPerClient: maxPerClient))
    }

    /// New limits (a reload): connections already open keep their places; new ones are counted
    /// against the new limits.
    public func setLimits(maxTotal: Int, maxPerClient: Int) {
        state.withLockedValue {
            $0.maxTotal = maxTotal
            $0.maxPerClient = maxPerClient
        }
    }

    /// Takes a place for this client, or says no.
    public func acquire(_ client: String) -> Bool {
        state.withLockedValue { s in
            guard s.total < s.maxTotal, s.perClient[client, default: 0] < s.maxPerClient else { return false }
            s.total += 1
            s.peak = max(s.peak, s.total)
            s.perClient[client, default: 0] += 1
            return true
        }
    }

    public func release(_ client: String) {
        state.withLockedValue { s in
            s.total -= 1
            let n = s.perClient[client, default: 1] - 1
            s.perClient[client] = n > 0 ? n : nil
        }
    }

    public var current: Int { state.withLockedValue { $0.total } }

    /// The connections open now, and the most that were open at once since the last call.
    public func takePeak() -> (current: Int, peak: Int) {
        state.withLockedValue { s in
            defer { s.peak = s.total }
            return (s.total, s.peak)
        }
    }
}
