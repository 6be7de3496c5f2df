import Delivery
import Prometheus
import SMTPCore
import Synchronization

/// Postie's metrics, in the Prometheus text format (swift-prometheus's registry, which implements
/// swift-metrics' handlers): names by Prometheus conventions (`postie_` prefix, `_total` counters,
/// base units), labels of low cardinality only — never a client address or a mail address. One
/// registry per server, so that servers embedded in one process (and the tests) count apart.
/// docs/operations.md lists every metric.
public final class PostieMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Values read at each scrape (queue sizes, open connections): set just before the text is made.
    private let gauges: [String: Gauge]
    /// Commands by verb: made once (every verb present from the start), counted without a lookup
    /// in the registry on each read.
    private let commandCounters: [String: Counter]
    /// Series already made, by name and label values (a metric's label names never change). The
    /// registry's own lookup checks the name and labels and builds the full name on every call;
    /// counting a reply or a recipient needs none of that the second time.
    private let counters = Mutex<[[String]: Counter]>([:])
    private let histograms = Mutex<[[String]: ValueHistogram]>([:])

    public init() {
        var gauges: [String: Gauge] = [:]
        let registry = self.registry
        func gauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
            registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
        }
        for state in ["active", "deferred", "held"] {
            gauges["queue_\(state)"] = gauge(
                name: "postie_queue_messages", labels: [("state", state)], help: "Messages in the queue, by state")
        }
        gauges["queue_oldest"] = gauge(
            name: "postie_queue_oldest_message_age_seconds", help: "Age of the oldest message waiting in the queue (0: none)")
        gauges["dns_cache"] = gauge(name: "postie_dns_cache_entries", help: "Answers the DNS cache holds")
        self.gauges = gauges
        var commandCounters: [String: Counter] = [:]
        for verb in CommandTally.verbs {
            commandCounters[verb] = registry.makeCounter(
                descriptor: Self.descriptor("postie_smtp_commands_total", "SMTP commands read, by verb (unknown: not a command)"),
                labels: [("verb", verb)])
        }
        self.commandCounters = commandCounters
        // Present from the start, so that a dashboard sees zeros rather than nothing.
        for result in ["sent", "deferred", "bounced"] {
            for target in ["maildir", "lmtp", "relay"] { _ = delivery(target: target, result: result) }
        }
        for limit in SessionLimit.allCases.map(\.rawValue) + ["connections", "auth_failures"] { _ = limitCounter(limit) }
        _ = received
        _ = receivedOctets
    }

    // MARK: Receiving

    /// A connection's end of the greeting: `accepted`, or why it was not (`limit`).
    public func connection(listener: String, outcome: String) {
        counter(
            name: "postie_smtp_connections_total", labels: [("listener", listener), ("outcome", outcome)],
            help: "SMTP connections, by listener and outcome"
        ).increment()
    }

    /// Commands the session read since it last told us.
    public func commands(_ tally: CommandTally, since earlier: CommandTally) {
        tally.forEachVerb(grownSince: earlier) { verb, count in commandCounters[verb]?.increment(by: Int64(count)) }
    }

    /// A limit a client went past: a `SessionLimit`, `connections` (`max_connections`,
    /// `max_connections_per_client`), or `auth_failures` (`[auth] max_failures`).
    public func limitHit(_ limit: String) {
        limitCounter(limit).increment()
    }

    private func limitCounter(_ limit: String) -> Counter {
        counter(name: "postie_limits_hit_total", labels: [("limit", limit)], help: "Times a client went past a limit, by limit")
    }

    /// A reply sent, by class (`2xx` … `5xx`) and enhanced status code (`5.1.1`; `none`).
    public func reply(code: Int, enhanced: String?) {
        counter(
            name: "postie_smtp_replies_total", labels: [("class", "\(code / 100)xx"), ("enhanced", enhanced ?? "none")],
            help: "SMTP replies sent, by class and enhanced status code"
        ).increment()
    }

    public var received: Counter {
        counter(name: "postie_messages_received_total", help: "Messages accepted (250 after DATA or BDAT LAST)")
    }

    public var receivedOctets: Counter {
        counter(name: "postie_received_bytes_total", help: "Octets of the messages accepted, as stored")
    }

    /// One RCPT's outcome: `accepted`, or the reason it was refused.
    public func recipient(_ reason: String) {
        counter(
            name: "postie_recipients_total", labels: [("result", reason == "accepted" ? "accepted" : "refused"), ("reason", reason)],
            help: "Recipients (RCPT TO), by result and reason"
        ).increment()
    }

    /// A message refused at the end of DATA, by reason (`authentication`, `too_many_hops`, …).
    public func messageRefused(_ reason: String) {
        counter(name: "postie_messages_refused_total", labels: [("reason", reason)], help: "Messages refused after DATA, by reason")
            .increment()
    }

    public func tlsSession(version: String) {
        counter(name: "postie_tls_sessions_total", labels: [("version", version)], help: "TLS sessions, by protocol version")
            .increment()
    }

    public func authentication(success: Bool) {
        counter(
            name: "postie_auth_attempts_total", labels: [("result", success ? "success" : "failure")], help: "AUTH attempts, by result"
        ).increment()
    }

    /// What the checks of a stranger's message found (`method`: spf, dkim, dmarc, arc).
    public func verification(method: String, result: String) {
        counter(
            name: "postie_authentication_results_total", labels: [("method", method), ("result", result)],
            help: "Results of the checks of inbound mail, by method and result"
        ).increment()
    }

    /// A group commit: the messages it made durable and how long it took (write and sync).
    public func spoolCommit(messages: Int, seconds: Double) {
        histogram(
            name: "postie_spool_commit_seconds", buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
            help: "Seconds a group commit of the spool took (writes and sync)"
        ).record(seconds)
        histogram(
            name: "postie_spool_commit_batch_messages", buckets: [1, 2, 4, 8, 16, 32, 64, 128],
            help: "Messages made durable by one group commit"
        ).record(Double(messages))
    }

    // MARK: Delivering

    /// One recipient's attempt: its target (`maildir`, `lmtp`, `relay`) and result (`sent`,
    /// `deferred`, `bounced`).
    @discardableResult
    public func delivery(target: String, result: String) -> Counter {
        counter(
            name: "postie_deliveries_total", labels: [("target", target), ("result", result)],
            help: "Delivery attempts of a recipient, by target and result")
    }

    /// Seconds an attempt took, by target (each recipient's outcome counted once).
    public func attemptDuration(_ seconds: Double, target: String) {
        histogram(
            name: "postie_delivery_attempt_seconds", labels: [("target", target)],
            buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
            help: "Seconds a delivery attempt took, from its start to the outcome of each recipient, by target"
        ).record(seconds)
    }

    /// Seconds from arrival to a recipient's final outcome (sent or bounced).
    public func timeInQueue(_ seconds: Double, target: String) {
        histogram(
            name: "postie_delivery_delay_seconds", labels: [("target", target)],
            buckets: [0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 14400, 86400, 432000],
            help: "Seconds from arrival to a recipient's final outcome, by target"
        ).record(seconds)
    }

    /// An outbound SMTP connection of the relay, by outcome (`session`, `unreachable`, `not_prepared`).
    public func outboundConnection(_ outcome: String) {
        counter(
            name: "postie_relay_connections_total", labels: [("outcome", outcome)],
            help: "Outbound SMTP connections to exchangers, by outcome"
        ).increment()
    }

    public func dnsLookup(type: String, result: String) {
        counter(
            name: "postie_dns_lookups_total", labels: [("type", type), ("result", result)],
            help: "DNS lookups sent (not answered from the cache), by record type and result"
        ).increment()
    }

    // MARK: The registry

    /// A name as it is (no namespace or unit is added: the names above carry them).
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private func counter(name: String, labels: [(String, String)] = [], help: String) -> Counter {
        Self.series(in: counters, name: name, labels: labels) { registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels) }
    }

    private func histogram(name: String, labels: [(String, String)] = [], buckets: [Double], help: String) -> ValueHistogram {
        Self.series(in: histograms, name: name, labels: labels) {
            registry.makeValueHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
        }
    }

    /// The series of `name` with these label values from `cache`, made by `make` the first time
    /// (under the cache's lock: the registry never calls back into us).
    private static func series<Series>(
        in cache: borrowing Mutex<[[String]: Series]>, name: String, labels: [(String, String)], make: () -> Series
    ) -> Series {
        let key = [name] + labels.map(\.1)
        return cache.withLock { made in
            if let series = made[key] { return series }
            let series = make()
            made[key] = series
            return series
        }
    }

    // MARK: Scrape

    /// The exposition, with the values read now.
    public func exposition(queue: QueueStatistics, now: Int64, dnsCache: Int?) -> [UInt8] {
        gauges["queue_active"]?.set(Double(queue.active))
        gauges["queue_deferred"]?.set(Double(queue.deferred))
        gauges["queue_held"]?.set(Double(queue.held))
        gauges["queue_oldest"]?.set(Double(queue.oldestArrival.map { max(0, now - $0) } ?? 0))
        if let dnsCache { gauges["dns_cache"]?.set(Double(dnsCache)) }
        return registry.emitToBuffer()
    }
}
