import MailCore
import NIOCore

/// Counts AUTH attempts, per client and per account, as values: the time is passed in, so the
/// policy is tested on a virtual clock.
///
/// - An attempt is counted before its password is checked (`admit`), so twenty connections at
///   once from one client get no more checks than the limit allows.
/// - A client (an IPv4 address, or an IPv6 /64, which one subscriber usually has whole) that
///   failed `maxFailures` times within the window is refused until its failures age out.
/// - An account that failed that often, from anywhere, is slowed, never locked: every attempt at
///   it waits longer (up to a bound), the right password too, so a guesser spread over many
///   addresses gains nothing, and the real user still gets in.
struct FailureLedger {
    private var clients: [String: [NIODeadline]] = [:]
    private var inFlight: [String: Int] = [:]
    private var accounts: [String: [NIODeadline]] = [:]

    enum Admission: Equatable {
        /// Check the password; `accountFailures` is the account's recent count, for its delay.
        case check(accountFailures: Int)
        case refused(failures: Int)
    }

    /// Counts an attempt in before its check, or refuses it.
    mutating func admit(client: String, account: String, now: NIODeadline, window: TimeAmount, maxFailures: Int) -> Admission {
        let key = Self.clientKey(client)
        clients[key] = clients[key]?.filter { now - $0 < window }
        let recent = (clients[key]?.count ?? 0) + (inFlight[key] ?? 0)
        if recent >= maxFailures { return .refused(failures: recent) }
        inFlight[key, default: 0] += 1
        accounts[account] = accounts[account]?.filter { now - $0 < window }
        if accounts[account]?.isEmpty == true { accounts[account] = nil }
        return .check(accountFailures: accounts[account]?.count ?? 0)
    }

    /// The check is done; a failure is recorded for the client and the account. Returns the
    /// client's recent failures.
    @discardableResult
    mutating func finish(client: String, account: String, failed: Bool, now: NIODeadline, window: TimeAmount) -> Int {
        let key = Self.clientKey(client)
        let left = (inFlight[key] ?? 1) - 1
        inFlight[key] = left > 0 ? left : nil
        guard failed else { return clients[key]?.count ?? 0 }
        // Keep the tables bounded: forget whoever has only old failures.
        if clients.count > 10_000 { clients = clients.filter { $0.value.contains { now - $0 < window } } }
        if accounts.count > 10_000 { accounts = accounts.filter { $0.value.contains { now - $0 < window } } }
        clients[key, default: []].append(now)
        accounts[account, default: []].append(now)
        return clients[key]!.count
    }

    /// How long an attempt at an account waits, given its recent failures: nothing below the
    /// limit, then one `delay` more for each failure beyond it, at most `longest`.
    static func accountDelay(failures: Int, maxFailures: Int, delay: TimeAmount, longest: TimeAmount) -> TimeAmount {
        guard failures >= maxFailures else { return .zero }
        return .nanoseconds(min(delay.nanoseconds * Int64(failures - maxFailures + 1), longest.nanoseconds))
    }

    /// The unit a client is counted as: its IPv4 address, or the /64 of its IPv6 address.
    static func clientKey(_ address: String) -> String {
        guard let parsed = IPNetwork.parseAddress(address) else { return address }
        var bytes = IPNetwork.unmapped(parsed)
        guard bytes.count == 16 else { return bytes.map(String.init).joined(separator: ".") }
        for i in 8..<16 { bytes[i] = 0 }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":") + "::/64"
    }
}
