#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOSSL
import MailCore
import SMTPCore
import TOMLKit

/// Reads a TOML configuration file over the embedded defaults. Every problem is reported with the
/// file, the line and the key; unknown keys are errors, so a misspelt key never silently does
/// nothing.
public enum ConfigurationLoader {
    public static func load(file: String) throws -> PostieConfiguration {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigurationError(file: file, line: nil, key: nil, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: file, line: nil, key: nil, message: "the file is not UTF-8")
        }
        return try load(text: text, file: file)
    }

    public static func load(text: String, file: String) throws -> PostieConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(file: file, line: error.source.begin.line, key: nil, message: error.description)
        }
        var reader = Reader(file: file, locator: KeyLocator(text: text))
        var config = PostieConfiguration.defaults()
        try reader.apply(table, to: &config)
        return config
    }

    struct Reader {
        let file: String
        let locator: KeyLocator

        func error(_ path: [String], _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: locator.line(of: path), key: path.joined(separator: "."), message: message)
        }

        func only(_ table: TOMLTable, _ path: [String], keys: Set<String>) throws {
            for key in table.keys where !keys.contains(key) {
                throw error(path + [key], "unknown key (known here: \(keys.sorted().joined(separator: ", ")))")
            }
        }

        func string(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> String? {
            guard let value = table[key] else { return nil }
            guard let s = value.tomlValue.string else { throw error(path + [key], "must be a string") }
            return s
        }

        func int(_ table: TOMLTable, _ key: String, _ path: [String], range: ClosedRange<Int>) throws -> Int? {
            guard let value = table[key] else { return nil }
            guard let n = value.tomlValue.int else { throw error(path + [key], "must be a whole number") }
            guard range.contains(n) else {
                throw error(path + [key], "must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return n
        }

        /// `host:port`.
        func address(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> PostieConfiguration.ListenAddress? {
            guard let text = try string(table, key, path) else { return nil }
            guard let a = PostieConfiguration.ListenAddress(text), a.port > 0 else {
                throw error(path + [key], "'\(text)' is not a host and port such as mx.example.com:25")
            }
            return a
        }

        func strings(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> [String]? {
            guard let value = table[key] else { return nil }
            if let s = value.tomlValue.string { return [s] }
            guard let array = value.tomlValue.array else { throw error(path + [key], "must be a string or a list of strings") }
            var result: [String] = []
            for element in array {
                guard let s = element.tomlValue.string else { throw error(path + [key], "must be a list of strings") }
                result.append(s)
            }
            return result
        }

        func listenAddresses(_ table: TOMLTable, _ key: String, _ path: [String], example: String) throws -> [PostieConfiguration.ListenAddress]? {
            try strings(table, key, path)?.map { text in
                guard let a = PostieConfiguration.ListenAddress(text) else {
                    throw error(path + [key], "'\(text)' is not an address such as \(example)")
                }
                return a
            }
        }

        /// Seconds, whole or fractional.
        func seconds(_ table: TOMLTable, _ key: String, _ path: [String], range: ClosedRange<Double>) throws -> Double? {
            guard let value = table[key] else { return nil }
            guard let n = value.tomlValue.double ?? value.tomlValue.int.map(Double.init) else {
                throw error(path + [key], "must be a number of seconds")
            }
            guard range.contains(n) else { throw error(path + [key], "must be between \(range.lowerBound) and \(range.upperBound)") }
            return n
        }

        func applyAuth(_ auth: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["auth"]
            try only(auth, path, keys: ["senders", "max_failures", "failure_window", "failure_delay", "users"])
            if let s = try string(auth, "senders", path) {
                guard s == "own" || s == "any" else { throw error(path + ["senders"], "must be \"own\" or \"any\"") }
                config.restrictSenders = s == "own"
            }
            if let n = try int(auth, "max_failures", path, range: 1...10_000) { config.authMaxFailures = n }
            if let n = try int(auth, "failure_window", path, range: 1...(7 * 86400)) { config.authFailureWindow = n }
            if let n = try seconds(auth, "failure_delay", path, range: 0...60) { config.authFailureDelay = n }
            guard let users = try subtable(auth, "users", path) else { return }
            for name in users.keys {
                let userPath = path + ["users", name]
                guard !name.isEmpty, name.utf8.count <= 256, name.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) else {
                    throw error(userPath, "a user name must be printable, without spaces")
                }
                guard let table = try subtable(users, name, path + ["users"]) else { continue }
                try only(table, userPath, keys: ["password", "send_as"])
                guard let text = try string(table, "password", userPath) else {
                    throw error(userPath + ["password"], "missing: every user needs a password hash from 'postie passwd'")
                }
                let hash: PasswordHash
                do {
                    hash = try PasswordHash(text)
                } catch {
                    throw self.error(userPath + ["password"], "\(error)")
                }
                let sendAs = try strings(table, "send_as", userPath) ?? []
                for entry in sendAs {
                    let ok = entry.hasPrefix("@") ? AddressGrammar.isDomain(Array(entry.dropFirst().utf8)[...]) : Mailbox.parse(entry) != nil
                    guard ok else { throw error(userPath + ["send_as"], "'\(entry)' is neither an address nor @domain") }
                }
                guard config.users[name.lowercased()] == nil else { throw error(userPath, "the user is named twice (names ignore case)") }
                config.users[name.lowercased()] = PostieConfiguration.User(password: hash, sendAs: sendAs)
            }
        }

        /// A file the configuration names must be readable and hold what the key says.
        func usable(_ file: String, _ path: [String], _ what: String, _ parse: (String) throws -> Void) throws {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw error(path, "cannot read \(file): \(String(cString: strerror(errno)))") }
            close(fd)
            do {
                try parse(file)
            } catch {
                throw self.error(path, "\(file) is not \(what)")
            }
        }

        func subtable(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> TOMLTable? {
            guard let value = table[key] else { return nil }
            guard let t = value.tomlValue.table else { throw error(path + [key], "must be a table") }
            return t
        }

        mutating func apply(_ root: TOMLTable, to config: inout PostieConfiguration) throws {
            try only(
                root, [],
                keys: ["hostname", "data_dir", "mail_root", "log_level", "smtp", "recipients", "relay", "domains", "queue", "tls", "submission", "auth"])
            if let tls = try subtable(root, "tls", []) {
                let path = ["tls"]
                try only(tls, path, keys: ["certificate", "key", "reload_interval"])
                if let n = try int(tls, "reload_interval", path, range: 1...86400) { config.tlsReloadInterval = n }
                config.tlsCertificate = try string(tls, "certificate", path)
                config.tlsKey = try string(tls, "key", path)
                guard (config.tlsCertificate == nil) == (config.tlsKey == nil) else {
                    throw error(path + [config.tlsCertificate == nil ? "certificate" : "key"], "certificate and key go together")
                }
                // Found now, with the key that names them, rather than as a library error at start.
                if let file = config.tlsCertificate {
                    try usable(file, path + ["certificate"], "a PEM certificate") { _ = try NIOSSLCertificate.fromPEMFile($0) }
                }
                if let file = config.tlsKey {
                    try usable(file, path + ["key"], "a PEM private key") { _ = try NIOSSLPrivateKey(file: $0, format: .pem) }
                }
            }
            if let h = try string(root, "hostname", []) {
                guard !h.isEmpty, AddressGrammar.isDomain(Array(h.utf8)[...]) else {
                    throw error(["hostname"], "must be a domain name such as mail.example.com")
                }
                config.hostname = h
            }
            if let d = try string(root, "data_dir", []) {
                guard !d.isEmpty else { throw error(["data_dir"], "must not be empty") }
                config.dataDirectory = d
            }
            if let m = try string(root, "mail_root", []) {
                guard !m.isEmpty else { throw error(["mail_root"], "must not be empty") }
                config.mailRoot = m
            }
            if let l = try string(root, "log_level", []) {
                guard let level = Logger.Level(rawValue: l) else {
                    throw error(["log_level"], "must be one of trace, debug, info, notice, warning, error, critical")
                }
                config.logLevel = level
            }
            if let smtp = try subtable(root, "smtp", []) { try applySMTP(smtp, to: &config) }
            if let submission = try subtable(root, "submission", []) {
                let path = ["submission"]
                try only(submission, path, keys: ["listen", "tls_listen"])
                if let l = try listenAddresses(submission, "listen", path, example: "127.0.0.1:587") { config.submissionListen = l }
                if let l = try listenAddresses(submission, "tls_listen", path, example: "127.0.0.1:465") { config.submissionTLSListen = l }
            }
            if let auth = try subtable(root, "auth", []) { try applyAuth(auth, to: &config) }
            if let r = try subtable(root, "recipients", []) {
                let path = ["recipients"]
                try only(r, path, keys: ["delimiter", "postmaster_domain"])
                if let d = try string(r, "delimiter", path) { config.recipientDelimiter = d.isEmpty ? nil : d }
                if let p = try string(r, "postmaster_domain", path) { config.primaryDomain = p.lowercased() }
            }
            if let relay = try subtable(root, "relay", []) {
                let path = ["relay"]
                try only(
                    relay, path,
                    keys: [
                        "trusted_networks", "port", "routes", "smarthost", "dns_server", "dns_timeout", "dns_attempts", "connect_timeout",
                        "command_timeout", "max_connections", "max_connections_per_destination", "max_messages_per_connection", "tls",
                        "tls_policy", "tls_ca_file", "smarthost_user", "smarthost_password_file",
                    ])
                if let n = try int(relay, "max_connections", path, range: 1...100_000) { config.relayMaxConnections = n }
                let tlsLevels = PostieConfiguration.RelayTLS.allCases.map(\.rawValue).joined(separator: ", ")
                if let t = try string(relay, "tls", path) {
                    guard let level = PostieConfiguration.RelayTLS(rawValue: t) else { throw error(path + ["tls"], "must be one of \(tlsLevels)") }
                    config.relayTLS = level
                }
                if let policy = try subtable(relay, "tls_policy", path) {
                    for domain in policy.keys {
                        guard let t = try string(policy, domain, path + ["tls_policy"]), let level = PostieConfiguration.RelayTLS(rawValue: t) else {
                            throw error(path + ["tls_policy", domain], "must be one of \(tlsLevels)")
                        }
                        config.tlsPolicy[domain.lowercased()] = level
                    }
                }
                if let n = try int(relay, "max_messages_per_connection", path, range: 1...10_000) { config.relayMaxMessagesPerConnection = n }
                if let n = try int(relay, "max_connections_per_destination", path, range: 1...10_000) {
                    config.relayMaxConnectionsPerDestination = n
                }
                if let n = try int(relay, "port", path, range: 1...65535) { config.relayPort = n }
                if let h = try address(relay, "smarthost", path) { config.smarthost = h }
                config.smarthostUser = try string(relay, "smarthost_user", path)
                if let ca = try string(relay, "tls_ca_file", path) {
                    guard FileManager.default.isReadableFile(atPath: ca) else { throw error(path + ["tls_ca_file"], "cannot read \(ca)") }
                    config.tlsCAFile = ca
                }
                if let file = try string(relay, "smarthost_password_file", path) {
                    guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                        throw error(path + ["smarthost_password_file"], "cannot read \(file)")
                    }
                    config.smarthostPassword = text.trimmingCharacters(in: .newlines)
                }
                guard (config.smarthostUser == nil) == (config.smarthostPassword == nil) else {
                    throw error(path + ["smarthost_user"], "smarthost_user and smarthost_password_file go together")
                }
                if let d = try address(relay, "dns_server", path) {
                    guard AddressGrammar.isIPv4(d.host) else { throw error(path + ["dns_server"], "must be an IPv4 address and port, such as 127.0.0.1:53") }
                    config.dnsServer = d
                }
                if let n = try int(relay, "dns_timeout", path, range: 1...60) { config.dnsTimeout = n }
                if let n = try int(relay, "dns_attempts", path, range: 1...10) { config.dnsAttempts = n }
                if let n = try int(relay, "connect_timeout", path, range: 1...3600) { config.relayConnectTimeout = n }
                if let n = try int(relay, "command_timeout", path, range: 1...3600) { config.relayCommandTimeout = n }
                if let routes = try subtable(relay, "routes", path) {
                    for domain in routes.keys {
                        guard AddressGrammar.isDomain(Array(domain.lowercased().utf8)[...]) else {
                            throw error(path + ["routes", domain], "'\(domain)' is not a domain name")
                        }
                        guard let target = try address(routes, domain, path + ["routes"]) else { continue }
                        config.routes[domain.lowercased()] = target
                    }
                }
                if let nets = try strings(relay, "trusted_networks", path) {
                    config.trustedNetworks = try nets.map { text in
                        guard let n = IPNetwork(text) else { throw error(path + ["trusted_networks"], "'\(text)' is not a network such as 192.0.2.0/24") }
                        return n
                    }
                }
            }
            if let q = try subtable(root, "queue", []) {
                let path = ["queue"]
                try only(q, path, keys: ["retry_minimum", "retry_maximum", "max_lifetime", "bounce_size_limit", "delay_warning"])
                if let n = try int(q, "delay_warning", path, range: 0...(100 * 86400)) { config.delayWarning = n }
                if let n = try int(q, "retry_minimum", path, range: 1...86400) { config.retryMinimum = n }
                if let n = try int(q, "retry_maximum", path, range: 1...604800) { config.retryMaximum = n }
                if let n = try int(q, "max_lifetime", path, range: 0...(100 * 86400)) { config.maxLifetime = n }
                if let n = try int(q, "bounce_size_limit", path, range: 0...(100 << 20)) { config.bounceSizeLimit = n }
            }
            if let domains = try subtable(root, "domains", []) { try applyDomains(domains, to: &config) }
            if let p = config.primaryDomain, config.domains[p] == nil {
                throw error(["recipients", "postmaster_domain"], "'\(p)' is not one of the local domains")
            }
        }

        func applySMTP(_ smtp: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["smtp"]
            try only(
                smtp, path,
                keys: [
                    "listen", "tls_listen", "max_connections", "max_connections_per_client", "command_timeout", "data_timeout", "shutdown_grace",
                    "max_message_size", "max_recipients", "max_errors", "max_received_headers", "data_phase_limit",
                    "max_messages_per_connection", "max_commands_per_connection",
                ])
            if let l = try listenAddresses(smtp, "listen", path, example: "127.0.0.1:2525 or [::1]:25") { config.listen = l }
            if let l = try listenAddresses(smtp, "tls_listen", path, example: "127.0.0.1:465") { config.tlsListen = l }
            if let n = try int(smtp, "max_connections", path, range: 1...1_000_000) { config.maxConnections = n }
            if let n = try int(smtp, "max_connections_per_client", path, range: 1...1_000_000) { config.maxConnectionsPerClient = n }
            if let n = try int(smtp, "command_timeout", path, range: 1...86400) { config.commandTimeout = n }
            if let n = try int(smtp, "data_timeout", path, range: 1...86400) { config.dataTimeout = n }
            if let n = try int(smtp, "data_phase_limit", path, range: 1...86400) { config.dataPhaseLimit = n }
            if let n = try int(smtp, "max_messages_per_connection", path, range: 1...1_000_000) { config.limits.maxMessagesPerConnection = n }
            if let n = try int(smtp, "max_commands_per_connection", path, range: 10...100_000_000) { config.limits.maxCommandsPerConnection = n }
            if let n = try int(smtp, "shutdown_grace", path, range: 0...3600) { config.shutdownGrace = n }
            if let n = try int(smtp, "max_message_size", path, range: 1024...(1 << 40)) { config.limits.maxMessageSize = n }
            if let n = try int(smtp, "max_recipients", path, range: 1...100_000) { config.limits.maxRecipients = n }
            if let n = try int(smtp, "max_errors", path, range: 1...10_000) { config.limits.maxErrors = n }
            if let n = try int(smtp, "max_received_headers", path, range: 1...10_000) { config.maxReceivedHeaders = n }
        }

        func applyDomains(_ domains: TOMLTable, to config: inout PostieConfiguration) throws {
            var result: [String: LocalDirectory.Domain] = [:]
            for name in domains.keys {
                let path = ["domains", name]
                let lower = name.lowercased()
                guard AddressGrammar.isDomain(Array(lower.utf8)[...]) else { throw error(path, "'\(name)' is not a domain name") }
                guard let table = try subtable(domains, name, ["domains"]) else { continue }
                try only(table, path, keys: ["users", "aliases", "catch_all"])
                let users = try strings(table, "users", path) ?? []
                for user in users {
                    guard LocalDirectory.isSafePathComponent(user.lowercased()), !user.contains("@"),
                        AddressGrammar.isDotString(Array(user.utf8))
                    else {
                        throw error(path + ["users"], "'\(user)' cannot be a mailbox name (use letters, digits and . _ - +)")
                    }
                }
                var aliases: [String: [String]] = [:]
                if let a = try subtable(table, "aliases", path) {
                    for key in a.keys {
                        guard let targets = try strings(a, key, path + ["aliases"]), !targets.isEmpty else {
                            throw error(path + ["aliases", key], "must name at least one target")
                        }
                        for t in targets where t.contains("@") && Mailbox.parse(t) == nil {
                            throw error(path + ["aliases", key], "'\(t)' is not an address")
                        }
                        aliases[key] = targets
                    }
                }
                let catchAll = try string(table, "catch_all", path)
                if let c = catchAll, c.contains("@") ? Mailbox.parse(c) == nil : !LocalDirectory.isSafePathComponent(c) {
                    throw error(path + ["catch_all"], "'\(c)' is not a user or an address")
                }
                result[lower] = LocalDirectory.Domain(users: Set(users), aliases: aliases, catchAll: catchAll)
            }
            config.domains = result
            // Every alias or catch-all target in a local domain must resolve.
            let directory = config.directory
            for (name, domain) in result {
                for (key, targets) in domain.aliases {
                    for t in targets {
                        let path: ForwardPath =
                            t.contains("@") ? .mailbox(Mailbox.parse(t)!) : .mailbox(Mailbox(localPart: t, domain: name))
                        switch directory.resolve(path) {
                        case .deliver, .notLocal: continue
                        case .aliasLoop: throw error(["domains", name, "aliases", key], "aliases lead in a circle")
                        default: throw error(["domains", name, "aliases", key], "'\(t)' is not a local user or alias")
                        }
                    }
                }
            }
        }
    }
}
