import Delivery
import MailCore
import NIOConcurrencyHelpers

/// The configuration a running server works with, shared by every part of it (connections, queue,
/// relay, reports, control): a reload replaces it in one step, and each part reads the current
/// one when it starts a piece of work — a transaction, a delivery attempt, a report — so that
/// nothing runs on a mix of old and new.
public final class LiveConfiguration: Sendable {
    /// One configuration and what is derived from it, never changed once made.
    public final class Snapshot: Sendable {
        public let configuration: PostieConfiguration
        public let directory: LocalDirectory
        /// The delivery half's part of it, derived once.
        public let delivery: DeliverySettings

        init(_ configuration: PostieConfiguration) {
            self.configuration = configuration
            self.directory = configuration.directory
            self.delivery = configuration.delivery
        }
    }

    private let box: NIOLockedValueBox<Snapshot>

    public init(_ configuration: PostieConfiguration) {
        box = NIOLockedValueBox(Snapshot(configuration))
    }

    public var snapshot: Snapshot { box.withLockedValue { $0 } }
    public var configuration: PostieConfiguration { snapshot.configuration }
    public var directory: LocalDirectory { snapshot.directory }
    /// The current delivery settings, for the delivery half to read at each attempt.
    public var deliverySettings: @Sendable () -> DeliverySettings { { [self] in snapshot.delivery } }

    /// Puts a new configuration in place; returns the one it replaced.
    @discardableResult
    func replace(with configuration: PostieConfiguration) -> Snapshot {
        let new = Snapshot(configuration)
        return box.withLockedValue { current in
            defer { current = new }
            return current
        }
    }
}
