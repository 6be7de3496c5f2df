import Delivery
import Foundation
import Logging
import MailAuth
import MailCore
import NIOSSL
import SMTPCore
import TOMLKit

extension ConfigurationLoader {
    private static let q = QuotedText.quoted

    /// Every section and key of the file, in the order `check-config` prints them
    /// (docs/configuration.md describes each). One function per section: each builds its keys in
    /// a frame of its own (a single literal of them all took more stack than a task's thread has
    /// in a debug build).
    static var sections: [ConfigurationSection] {
        [
            topLevel, smtpSection, recipientsSection, relaySection, queueSection, submissionSection, authSection, tlsSection,
            deliverySection, domainsSection, dkimSection, srsSection, verifySection, adminSection,
        ]
    }

    private static var topLevel: ConfigurationSection {
        return ConfigurationSection(
            name: "",
            keys: [
                .value(
                    "hostname", \.hostname,
                    parse: { r, t, p in
                        guard let h = try r.string(t, "hostname", p) else { return nil }
                        guard !h.isEmpty, AddressGrammar.isDomain(Array(h.utf8)[...]) else {
                            r.report(["hostname"], "must be a domain name such as mail.example.com")
                            return nil
                        }
                        return h
                    }, format: q),
                .value("data_dir", \.dataDirectory, restart: true, parse: { r, t, p in try r.nonEmpty(t, "data_dir", p) }, format: q),
                ConfigurationKey(
                    name: "mail_root", needsRestart: true,
                    read: { r, t, p, c in if let m = try r.nonEmpty(t, "mail_root", p) { c.mailRoot = m } },
                    show: { q($0.effectiveMailRoot) }, keep: { new, old in new.mailRoot = old.mailRoot }),
                .choice("log_level", \.logLevel, restart: true, Logger.Level.allCases.map { ($0.rawValue, $0) }),
                .choice("log_format", \.logFormat, restart: true, [("text", .text), ("json", .json)]),
            ])
    }

    private static var smtpSection: ConfigurationSection {
        return ConfigurationSection(
            name: "smtp",
            keys: [
                .listen("listen", \.smtp.listen, example: "127.0.0.1:2525 or [::1]:25"),
                .listen("tls_listen", \.smtp.tlsListen, example: "127.0.0.1:465"),
                .int("max_connections", \.smtp.maxConnections, 1...1_000_000),
                .int("max_connections_per_client", \.smtp.maxConnectionsPerClient, 1...1_000_000),
                .int("command_timeout", \.smtp.commandTimeout, 1...86400),
                .int("data_timeout", \.smtp.dataTimeout, 1...86400),
                .int("data_phase_limit", \.smtp.dataPhaseLimit, 1...86400),
                .int("max_messages_per_connection", \.smtp.limits.maxMessagesPerConnection, 1...1_000_000),
                .int("max_commands_per_connection", \.smtp.limits.maxCommandsPerConnection, 10...100_000_000),
                .int("shutdown_grace", \.smtp.shutdownGrace, 0...3600),
                .int("max_message_size", \.smtp.limits.maxMessageSize, 1024...(1 << 40)),
                .int("max_recipients", \.smtp.limits.maxRecipients, 1...100_000),
                .int("max_errors", \.smtp.limits.maxErrors, 1...10_000),
                .int("max_received_headers", \.smtp.maxReceivedHeaders, 1...10_000),
                .bool("strict_address_syntax", \.smtp.strictAddressSyntax),
                .choice("unauthenticated_local_senders", \.smtp.refuseStrangersWithLocalSenders, [("accept", false), ("refuse", true)]),
            ])
    }

    private static var recipientsSection: ConfigurationSection {
        return ConfigurationSection(
            name: "recipients",
            keys: [
                .value(
                    "delimiter", \.recipients.delimiter,
                    parse: { r, t, p in try r.string(t, "delimiter", p).map { $0.isEmpty ? nil : $0 } }, format: { q($0 ?? "") }),
                ConfigurationKey(
                    name: "postmaster_domain", needsRestart: false,
                    read: { r, t, p, c in if let d = try r.string(t, "postmaster_domain", p) { c.recipients.postmasterDomain = d.lowercased() } },
                    show: { q($0.directory.primaryDomain) }, keep: { new, old in new.recipients.postmasterDomain = old.recipients.postmasterDomain }),
            ])
    }

    private static var relaySection: ConfigurationSection {
        return ConfigurationSection(
            name: "relay",
            keys: [
                .value(
                    "trusted_networks", \.relay.trustedNetworks,
                    parse: { r, t, p in
                        try r.strings(t, "trusted_networks", p).map { texts in
                            try texts.map { text in
                                guard let n = IPNetwork(text) else {
                                    throw r.error(p + ["trusted_networks"], "'\(text)' is not a network such as 192.0.2.0/24")
                                }
                                return n
                            }
                        }
                    }, format: { ConfigurationPrinter.list($0.map(\.description)) }),
                .int("port", \.relay.port, 1...65535),
                .choice("tls", \.relay.tls, RelayTLS.allCases.map { ($0.rawValue, $0) }),
                .value(
                    "tls_ca_file", \.relay.tlsCAFile,
                    parse: { r, t, p in
                        guard let ca = try r.string(t, "tls_ca_file", p) else { return nil }
                        guard FileManager.default.isReadableFile(atPath: ca) else {
                            throw r.error(p + ["tls_ca_file"], "cannot read \(ca)")
                        }
                        return ca
                    }, format: { $0.map(q) }),
                .address("smarthost", \.relay.smarthost),
                .optionalString("smarthost_user", \.relay.smarthostUser),
                // A secret: read from its file; the file is printed, never the password (a
                // reload compares the password itself).
                ConfigurationKey(
                    name: "smarthost_password_file", needsRestart: false,
                    read: { r, t, p, c in
                        guard let file = try r.string(t, "smarthost_password_file", p) else { return }
                        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                            throw r.error(p + ["smarthost_password_file"], "cannot read \(file)")
                        }
                        c.relay.smarthostPasswordFile = file
                        c.relay.smarthostPassword = text.trimmingCharacters(in: .newlines)
                    },
                    show: { $0.relay.smarthostPasswordFile.map(q) },
                    keep: { new, old in
                        new.relay.smarthostPasswordFile = old.relay.smarthostPasswordFile
                        new.relay.smarthostPassword = old.relay.smarthostPassword
                    }),
                .address(
                    "dns_server", \.relay.dnsServer, restart: true,
                    check: { AddressGrammar.isIPv4($0.host) ? nil : "must be an IPv4 address and port, such as 127.0.0.1:53" }),
                .int("dns_timeout", \.relay.dnsTimeout, 1...60, restart: true),
                .int("dns_attempts", \.relay.dnsAttempts, 1...10, restart: true),
                .int("max_connections", \.relay.maxConnections, 1...100_000, restart: true),
                .int("max_connections_per_destination", \.relay.maxConnectionsPerDestination, 1...10_000, restart: true),
                .int("max_messages_per_connection", \.relay.maxMessagesPerConnection, 1...10_000, restart: true),
                .int("mx_address_limit", \.relay.mxAddressLimit, 1...1000),
                .int("mx_session_limit", \.relay.mxSessionLimit, 1...100),
                .int("connect_timeout", \.relay.connectTimeout, 1...3600),
                .int("command_timeout", \.relay.commandTimeout, 1...3600),
            ],
            tables: ["routes", "tls_policy"],
            readTables: { r, t, c in try r.readRelayTables(t, &c) },
            printTables: { c in
                var lines: [String] = []
                if !c.relay.tlsPolicy.isEmpty {
                    lines.append("[relay.tls_policy]")
                    for d in c.relay.tlsPolicy.keys.sorted() { lines.append("\(q(d)) = \(q(c.relay.tlsPolicy[d]!.rawValue))") }
                }
                if !c.relay.routes.isEmpty {
                    lines.append("[relay.routes]")
                    for d in c.relay.routes.keys.sorted() { lines.append("\(q(d)) = \(q(c.relay.routes[d]!.description))") }
                }
                return lines
            },
            check: { r, c in
                guard (c.relay.smarthostUser == nil) == (c.relay.smarthostPassword == nil) else {
                    throw r.error(["relay", "smarthost_user"], "smarthost_user and smarthost_password_file go together")
                }
            })
    }

    private static var queueSection: ConfigurationSection {
        return ConfigurationSection(
            name: "queue",
            keys: [
                .int("retry_minimum", \.queue.retryMinimum, 1...86400),
                .int("retry_maximum", \.queue.retryMaximum, 1...604800),
                .int("max_lifetime", \.queue.maxLifetime, 0...(100 * 86400)),
                .int("delay_warning", \.queue.delayWarning, 0...(100 * 86400)),
                .int("bounce_size_limit", \.queue.bounceSizeLimit, 0...(100 << 20)),
                .int("reports_per_domain_per_hour", \.queue.reportsPerDomainPerHour, 0...100_000),
                .int("trace_retention", \.queue.traceRetention, 0...(366 * 86400)),
            ])
    }

    private static var submissionSection: ConfigurationSection {
        return ConfigurationSection(
            name: "submission",
            keys: [
                .listen("listen", \.submission.listen, example: "127.0.0.1:587"),
                .listen("tls_listen", \.submission.tlsListen, example: "127.0.0.1:465"),
            ])
    }

    private static var authSection: ConfigurationSection {
        return ConfigurationSection(
            name: "auth",
            keys: [
                .choice("senders", \.auth.restrictSenders, PostieConfiguration.ownOrAny),
                .choice("header_from", \.auth.restrictHeaderFrom, PostieConfiguration.ownOrAny),
                .int("max_failures", \.auth.maxFailures, 1...10_000),
                .int("failure_window", \.auth.failureWindow, 1...(7 * 86400)),
                .seconds("failure_delay", \.auth.failureDelay, 0...60),
            ],
            tables: ["users"],
            readTables: { r, t, c in try r.readUsers(t, &c) },
            printTables: { c in
                c.auth.users.keys.sorted().flatMap { name -> [String] in
                    let user = c.auth.users[name]!
                    return ["[auth.users.\(q(name))]", "password = \(q(user.password.description))"]
                        + (user.sendAs.isEmpty ? [] : ["send_as = \(ConfigurationPrinter.list(user.sendAs))"])
                }
            })
    }

    private static var tlsSection: ConfigurationSection {
        return ConfigurationSection(
            name: "tls",
            keys: [
                .optionalString("certificate", \.tls.certificate),
                .optionalString("key", \.tls.key),
                .int("reload_interval", \.tls.reloadInterval, 1...86400),
                .bool("legacy_ciphers", \.tls.legacyCiphers),
            ],
            check: { r, c in
                let path = ["tls"]
                guard (c.tls.certificate == nil) == (c.tls.key == nil) else {
                    throw r.error(path + [c.tls.certificate == nil ? "certificate" : "key"], "certificate and key go together")
                }
                // Found now, with the key that names them, rather than as a library error at start.
                if let file = c.tls.certificate {
                    try r.usable(file, path + ["certificate"], "a PEM certificate") { _ = try NIOSSLCertificate.fromPEMFile($0) }
                }
                if let file = c.tls.key {
                    try r.usable(file, path + ["key"], "a PEM private key") { _ = try NIOSSLPrivateKey(file: $0, format: .pem) }
                }
            })
    }

    private static var deliverySection: ConfigurationSection {
        return ConfigurationSection(
            name: "delivery",
            keys: [
                .value("local", \.localDelivery, parse: { r, t, p in try r.localDelivery(t, "local", p) }, format: { q($0.description) })
            ])
    }

    /// `expiry`, and a table per signing domain (read by `readDKIM`).
    private static var dkimSection: ConfigurationSection {
        return ConfigurationSection(
            name: "dkim", keys: [.int("expiry", \.dkim.expiry, 0...(366 * 86400))], isOpen: true,
            readTables: { r, t, c in try r.readDKIM(t, &c) },
            printTables: { c in
                c.dkim.domains.keys.sorted().flatMap { name -> [String] in
                    let keys = c.dkim.domains[name]!
                    var lines = ["", "[dkim.\(q(name))]", "selectors = \(ConfigurationPrinter.list(keys.map(\.selector)))"]
                    if let dir = c.dkim.keyDirectories[name] { lines.append("key_dir = \(q(dir))") }
                    for key in keys { lines.append("# \(key.selector): \(key.key.algorithm.rawValue), \(key.key.bits) bits, \(key.file)") }
                    return lines
                }
            })
    }

    private static var srsSection: ConfigurationSection {
        return ConfigurationSection(
            name: "srs",
            keys: [
                .bool("enabled", \.srs.enabled),
                // Printed as in force: the postmaster domain when none is named.
                ConfigurationKey(
                    name: "domain", needsRestart: false,
                    read: { r, t, p, c in
                        guard let d = try r.string(t, "domain", p) else { return }
                        guard AddressGrammar.isDomain(Array(d.lowercased().utf8)[...]) else {
                            throw r.error(p + ["domain"], "'\(d)' is not a domain name")
                        }
                        c.srs.domain = d.lowercased()
                    },
                    show: { q($0.srs.domain ?? $0.directory.primaryDomain) }, keep: { new, old in new.srs.domain = old.srs.domain }),
                .int("max_age", \.srs.maxAge, 1...365),
                .optionalString("secret_file", \.srs.secretFile),
            ],
            check: { r, c in
                // The secrets are read now when the file exists (a missing default file is made
                // at start); one that is named must be readable and hold a secret.
                let path = c.srs.secretPath(dataDirectory: c.dataDirectory)
                if let data = FileManager.default.contents(atPath: path) {
                    c.srs.secrets = SRS.secrets(fromFile: String(decoding: data, as: UTF8.self))
                    guard !c.srs.secrets.isEmpty else { throw r.error(["srs", "secret_file"], "\(path) holds no secret") }
                } else if c.srs.secretFile != nil {
                    throw r.error(["srs", "secret_file"], "cannot read \(path)")
                }
            })
    }

    private static var adminSection: ConfigurationSection {
        return ConfigurationSection(
            name: "admin",
            keys: [
                .listen("listen", \.admin.listen, example: "127.0.0.1:9025"),
                .optionalString("token_file", \.admin.tokenFile),
            ],
            check: { r, c in
                if let path = c.admin.tokenFile {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw r.error(["admin", "token_file"], "cannot read \(path)")
                    }
                    let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first
                        .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                    guard token.count >= 16 else { throw r.error(["admin", "token_file"], "\(path) holds no token of 16 characters or more") }
                    c.admin.token = token
                } else if !c.admin.loopbackOnly {
                    throw r.error(
                        ["admin", "listen"], "listening beyond loopback needs token_file (a file holding the bearer token requests must carry)")
                }
            })
    }

    private static var verifySection: ConfigurationSection {
        return ConfigurationSection(
            name: "verify",
            keys: [
                .bool("enabled", \.verify.enabled),
                .bool("enforce", \.verify.enforce),
                .choice("spf_fail", \.verify.spfFail, VerifySettings.SPFFailAction.allCases.map { ($0.rawValue, $0) }),
                .choice("quarantine", \.verify.quarantine, VerifySettings.Quarantine.allCases.map { ($0.rawValue, $0) }),
                .seconds("timeout", \.verify.timeout, 1...300),
                .value(
                    "trusted_arc_sealers", \.verify.trustedARCSealers,
                    parse: { r, t, p in
                        try r.strings(t, "trusted_arc_sealers", p).map { names in
                            try names.map { name in
                                let domain = name.lowercased()
                                guard domain.contains("."), AddressGrammar.isDomain(Array(domain.utf8)[...]) else {
                                    throw r.error(p + ["trusted_arc_sealers"], "'\(name)' is not a domain name")
                                }
                                return domain
                            }
                        }
                    }, format: { ConfigurationPrinter.list($0) }),
                .optionalString("public_suffix_list", \.verify.publicSuffixList),
            ],
            check: { r, c in
                guard let path = c.verify.publicSuffixList else { return }
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw r.error(["verify", "public_suffix_list"], "cannot read \(path)")
                }
                let list = PublicSuffixList(rules: String(decoding: data, as: UTF8.self))
                guard list.count > 0 else { throw r.error(["verify", "public_suffix_list"], "\(path) holds no rule") }
                c.verify.suffixes = list
            })
    }

    /// Any key is a domain here: its own keys are read by `readDomains`.
    private static var domainsSection: ConfigurationSection {
        return ConfigurationSection(
            name: "domains", keys: [], isOpen: true,
            readTables: { r, t, c in try r.readDomains(t, &c) },
            printTables: { c in
                c.domains.keys.sorted().flatMap { name -> [String] in
                    let d = c.domains[name]!
                    var lines = ["", "[domains.\(q(name))]", "users = \(ConfigurationPrinter.list(d.users.sorted()))"]
                    if let delivery = c.deliveryByDomain[name] { lines.append("delivery = \(q(delivery.description))") }
                    if let enforce = c.verify.byDomain[name] { lines.append("verify = \(q(enforce ? "enforce" : "mark"))") }
                    if let catchAll = d.catchAll { lines.append("catch_all = \(q(catchAll))") }
                    if !d.aliases.isEmpty {
                        lines.append("[domains.\(q(name)).aliases]")
                        for key in d.aliases.keys.sorted() { lines.append("\(q(key)) = \(ConfigurationPrinter.list(d.aliases[key]!))") }
                    }
                    return lines
                }
            })
    }
}
