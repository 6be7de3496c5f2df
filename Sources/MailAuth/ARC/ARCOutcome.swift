/// What ARC chain validation found (RFC 8617 §5.2), with what Authentication-Results shows.
public struct ARCOutcome: Sendable, Equatable {
    public enum Result: String, Sendable {
        case pass, fail, none
    }

    public var result: Result
    /// Why, when `fail`.
    public var reason: String?
    /// The sets in the chain.
    public var instances: Int
    /// The sealing domain of each set, oldest first (the first is where the chain began).
    public var sealers: [String]
    /// For a passing chain: the oldest sealer whose results can be trusted as far as the chain goes
    /// (its `d=`): the first set's.
    public var oldestPassingSealer: String? { result == .pass ? sealers.first : nil }

    public init(result: Result, reason: String? = nil, instances: Int = 0, sealers: [String] = []) {
        self.result = result
        self.reason = reason
        self.instances = instances
        self.sealers = sealers
    }
}
