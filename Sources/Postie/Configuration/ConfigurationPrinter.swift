/// The effective configuration as TOML, for `postie check-config`: what the server would run with.
public enum ConfigurationPrinter {
    public static func render(_ c: PostieConfiguration) -> String {
        func q(_ s: String) -> String { QuotedText.quoted(s) }
        func list(_ items: [String]) -> String { "[" + items.map(q).joined(separator: ", ") + "]" }
        var lines = [
            "hostname = \(q(c.hostname))",
            "data_dir = \(q(c.dataDirectory))",
            "mail_root = \(q(c.effectiveMailRoot))",
            "log_level = \(q(c.logLevel.rawValue))",
            "log_format = \(q(c.logFormat.rawValue))",
            "",
            "[smtp]",
            "listen = \(list(c.listen.map(\.description)))",
            "tls_listen = \(list(c.tlsListen.map(\.description)))",
            "max_connections = \(c.maxConnections)",
            "max_connections_per_client = \(c.maxConnectionsPerClient)",
            "command_timeout = \(c.commandTimeout)",
            "data_timeout = \(c.dataTimeout)",
            "data_phase_limit = \(c.dataPhaseLimit)",
            "max_messages_per_connection = \(c.limits.maxMessagesPerConnection)",
            "max_commands_per_connection = \(c.limits.maxCommandsPerConnection)",
            "shutdown_grace = \(c.shutdownGrace)",
            "max_message_size = \(c.limits.maxMessageSize)",
            "max_recipients = \(c.limits.maxRecipients)",
            "max_errors = \(c.limits.maxErrors)",
            "max_received_headers = \(c.maxReceivedHeaders)",
            "strict_address_syntax = \(c.strictAddressSyntax)",
            "unauthenticated_local_senders = \(q(c.refuseStrangersWithLocalSenders ? "refuse" : "accept"))",
            "",
            "[recipients]",
            "delimiter = \(q(c.recipientDelimiter ?? ""))",
            "postmaster_domain = \(q(c.directory.primaryDomain))",
            "",
            "[relay]",
            "trusted_networks = \(list(c.trustedNetworks.map(\.description)))",
            "port = \(c.relayPort)",
            "tls = \(q(c.relayTLS.rawValue))",
        ]
        if let ca = c.tlsCAFile { lines.append("tls_ca_file = \(q(ca))") }
        if let s = c.smarthost { lines.append("smarthost = \(q(s.description))") }
        if let u = c.smarthostUser { lines.append("smarthost_user = \(q(u))  # password from smarthost_password_file, not shown") }
        if let d = c.dnsServer { lines.append("dns_server = \(q(d.description))") }
        lines += [
            "dns_timeout = \(c.dnsTimeout)",
            "dns_attempts = \(c.dnsAttempts)",
            "max_connections = \(c.relayMaxConnections)",
            "max_connections_per_destination = \(c.relayMaxConnectionsPerDestination)",
            "max_messages_per_connection = \(c.relayMaxMessagesPerConnection)",
            "mx_address_limit = \(c.relayMXAddressLimit)",
            "mx_session_limit = \(c.relayMXSessionLimit)",
            "connect_timeout = \(c.relayConnectTimeout)",
            "command_timeout = \(c.relayCommandTimeout)",
        ]
        if !c.tlsPolicy.isEmpty {
            lines.append("[relay.tls_policy]")
            for d in c.tlsPolicy.keys.sorted() { lines.append("\(q(d)) = \(q(c.tlsPolicy[d]!.rawValue))") }
        }
        if !c.routes.isEmpty {
            lines.append("[relay.routes]")
            for d in c.routes.keys.sorted() { lines.append("\(q(d)) = \(q(c.routes[d]!.description))") }
        }
        lines += [
            "",
            "[queue]",
            "retry_minimum = \(c.retryMinimum)",
            "retry_maximum = \(c.retryMaximum)",
            "max_lifetime = \(c.maxLifetime)",
            "delay_warning = \(c.delayWarning)",
            "bounce_size_limit = \(c.bounceSizeLimit)",
            "reports_per_domain_per_hour = \(c.reportsPerDomainPerHour)",
        ]
        lines += [
            "",
            "[submission]",
            "listen = \(list(c.submissionListen.map(\.description)))",
            "tls_listen = \(list(c.submissionTLSListen.map(\.description)))",
            "",
            "[auth]",
            "senders = \(q(c.restrictSenders ? "own" : "any"))",
            "header_from = \(q(c.restrictHeaderFrom ? "own" : "any"))",
            "max_failures = \(c.authMaxFailures)",
            "failure_window = \(c.authFailureWindow)",
            "failure_delay = \(c.authFailureDelay)",
        ]
        for name in c.users.keys.sorted() {
            let user = c.users[name]!
            lines += ["[auth.users.\(q(name))]", "password = \(q(user.password.description))"]
            if !user.sendAs.isEmpty { lines.append("send_as = \(list(user.sendAs))") }
        }
        lines += ["", "[tls]"]
        if let cert = c.tlsCertificate, let key = c.tlsKey {
            lines += ["certificate = \(q(cert))", "key = \(q(key))"]
        }
        lines.append("reload_interval = \(c.tlsReloadInterval)")
        lines.append("legacy_ciphers = \(c.tlsLegacyCiphers)")
        lines += ["", "[delivery]", "local = \(q(c.localDelivery.description))"]
        for name in c.domains.keys.sorted() {
            let d = c.domains[name]!
            lines += ["", "[domains.\(q(name))]", "users = \(list(d.users.sorted()))"]
            if let delivery = c.deliveryByDomain[name] { lines.append("delivery = \(q(delivery.description))") }
            if let catchAll = d.catchAll { lines.append("catch_all = \(q(catchAll))") }
            if !d.aliases.isEmpty {
                lines.append("[domains.\(q(name)).aliases]")
                for key in d.aliases.keys.sorted() { lines.append("\(q(key)) = \(list(d.aliases[key]!))") }
            }
        }
        return lines.joined(separator: "\n")
    }
}
