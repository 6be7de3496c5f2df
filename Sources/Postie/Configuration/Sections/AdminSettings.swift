import Delivery
import MailCore

/// `[admin]`: the HTTP listener for metrics, health probes and the admin API
/// (docs/operations.md).
public struct AdminSettings: Sendable, Equatable {
    /// Where it listens; empty: off. Loopback by default.
    public var listen: [HostAndPort] = [HostAndPort(host: "127.0.0.1", port: 9025)]
    /// A file whose first line is the bearer token every request but the probes must carry;
    /// needed when listening beyond loopback.
    public var tokenFile: String?
    /// The token read from the file.
    public var token: String?

    public init() {}

    /// Whether every address is a loopback one (127.0.0.0/8, ::1, localhost).
    public var loopbackOnly: Bool {
        listen.allSatisfy { address in
            address.host == "localhost" || address.host == "::1" || IPNetwork("127.0.0.0/8")!.contains(address.host)
        }
    }
}
