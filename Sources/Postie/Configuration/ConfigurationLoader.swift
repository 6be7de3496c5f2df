#if canImport(Glibc)
import Delivery
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
        let reader = Reader(file: file, locator: KeyLocator(text: text))
        var config = PostieConfiguration.defaults()
        reader.attempt { try reader.apply(table, to: &config) }
        // Every problem at once, in the order of the file: an operator mends them in one pass.
        let problems = reader.problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) }
        if var first = problems.first {
            first.others = Array(problems.dropFirst())
            throw first
        }
        return config
    }

    /// Reads the tables into a configuration, noting every problem: a value of the wrong type or
    /// out of range is noted and the key skipped; a problem a section cannot go on from ends that
    /// section only (`attempt`).
    final class Reader {
        let file: String
        let locator: KeyLocator
        private(set) var problems: [ConfigurationError] = []

        init(file: String, locator: KeyLocator) {
            self.file = file
            self.locator = locator
        }

        func error(_ path: [String], _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: locator.line(of: path), key: path.joined(separator: "."), message: message)
        }

        /// Notes a problem and goes on.
        func report(_ path: [String], _ message: String) {
            problems.append(error(path, message))
        }

        /// Runs one section; what it throws is noted, and the rest of the file is still read.
        func attempt(_ body: () throws -> Void) {
            do {
                try body()
            } catch let error as ConfigurationError {
                problems.append(error)
            } catch {
                problems.append(ConfigurationError(file: file, line: nil, key: nil, message: "\(error)"))
            }
        }

        /// Notes every key not in `keys`, with the known key it is most likely a misspelling of.
        func only(_ table: TOMLTable, _ path: [String], keys: Set<String>) throws {
            for key in table.keys.sorted() where !keys.contains(key) {
                if let near = Self.nearest(key, in: keys) {
                    report(path + [key], "unknown key; did you mean \(near)?")
                } else {
                    report(path + [key], "unknown key (known here: \(keys.sorted().joined(separator: ", ")))")
                }
            }
        }

        /// The known key within a small edit distance of `key` (a typo, a missing underscore).
        static func nearest(_ key: String, in keys: Set<String>) -> String? {
            let scored = keys.map { ($0, editDistance(key.lowercased(), $0)) }.filter { $0.1 <= max(2, $0.0.count / 4) }
            return scored.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }?.0
        }

        static func editDistance(_ a: String, _ b: String) -> Int {
            let a = Array(a.utf8)
            let b = Array(b.utf8)
            var previous = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return a.isEmpty ? b.count : previous[b.count]
        }

        /// The value under `key` as `read` takes it; nil when absent, or noted (`must`) when it
        /// is not of that type.
        func typed<T>(_ table: TOMLTable, _ key: String, _ path: [String], must: String, _ read: (TOMLValue) -> T?) -> T? {
            guard let value = table[key] else { return nil }
            guard let typed = read(value.tomlValue) else {
                report(path + [key], must)
                return nil
            }
            return typed
        }

        /// `value` when in `range`, else noted and nil.
        func within<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, _ path: [String]) -> T? {
            guard let value else { return nil }
            guard range.contains(value) else {
                report(path, "must be between \(range.lowerBound) and \(range.upperBound)")
                return nil
            }
            return value
        }

        func string(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> String? {
            typed(table, key, path, must: "must be a string") { $0.string }
        }

        func int(_ table: TOMLTable, _ key: String, _ path: [String], range: ClosedRange<Int>) throws -> Int? {
            within(typed(table, key, path, must: "must be a whole number") { $0.int }, range, path + [key])
        }

        /// `maildir`, `lmtp:unix:/path` or `lmtp:host:port`.
        func localDelivery(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> LocalDelivery? {
            guard let text = try string(table, key, path) else { return nil }
            guard let delivery = LocalDelivery(text) else {
                report(path + [key], "'\(text)' is not \"maildir\", \"lmtp:unix:/path\" or \"lmtp:host:port\"")
                return nil
            }
            return delivery
        }

        func bool(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> Bool? {
            typed(table, key, path, must: "must be true or false") { $0.bool }
        }

        /// `host:port`.
        func address(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> PostieConfiguration.ListenAddress? {
            guard let text = try string(table, key, path) else { return nil }
            guard let a = PostieConfiguration.ListenAddress(text), a.port > 0 else {
                report(path + [key], "'\(text)' is not a host and port such as mx.example.com:25")
                return nil
            }
            return a
        }

        func strings(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> [String]? {
            guard let value = table[key] else { return nil }
            if let s = value.tomlValue.string { return [s] }
            guard let array = value.tomlValue.array else {
                report(path + [key], "must be a string or a list of strings")
                return nil
            }
            var result: [String] = []
            for element in array {
                guard let s = element.tomlValue.string else {
                    report(path + [key], "must be a list of strings")
                    return nil
                }
                result.append(s)
            }
            return result
        }

        func listenAddresses(_ table: TOMLTable, _ key: String, _ path: [String], example: String) throws -> [PostieConfiguration.ListenAddress]? {
            guard let texts = try strings(table, key, path) else { return nil }
            var addresses: [PostieConfiguration.ListenAddress] = []
            for text in texts {
                // Noted like any other value, so that the rest of the section is still read.
                guard let a = PostieConfiguration.ListenAddress(text) else {
                    report(path + [key], "'\(text)' is not an address such as \(example)")
                    return nil
                }
                addresses.append(a)
            }
            return addresses
        }

        /// Seconds, whole or fractional.
        func seconds(_ table: TOMLTable, _ key: String, _ path: [String], range: ClosedRange<Double>) throws -> Double? {
            let value = typed(table, key, path, must: "must be a number of seconds") { $0.double ?? $0.int.map(Double.init) }
            return within(value, range, path + [key])
        }

        func applyAuth(_ auth: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["auth"]
            try only(auth, path, keys: ["senders", "header_from", "max_failures", "failure_window", "failure_delay", "users"])
            if let h = try string(auth, "header_from", path) {
                guard h == "own" || h == "any" else { throw error(path + ["header_from"], "must be \"own\" or \"any\"") }
                config.restrictHeaderFrom = h == "own"
            }
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
            guard let t = value.tomlValue.table else {
                report(path + [key], "must be a table")
                return nil
            }
            return t
        }

        func apply(_ root: TOMLTable, to config: inout PostieConfiguration) throws {
            try only(
                root, [],
                keys: ["hostname", "data_dir", "mail_root", "log_level", "log_format", "delivery", "smtp", "recipients", "relay", "domains", "queue", "tls", "submission", "auth"])
            if let tls = try subtable(root, "tls", []) { attempt { try applyTLS(tls, to: &config) } }
            try applyTopLevel(root, to: &config)
            if let smtp = try subtable(root, "smtp", []) { attempt { try applySMTP(smtp, to: &config) } }
            if let submission = try subtable(root, "submission", []) {
                let path = ["submission"]
                try only(submission, path, keys: ["listen", "tls_listen"])
                if let l = try listenAddresses(submission, "listen", path, example: "127.0.0.1:587") { config.submissionListen = l }
                if let l = try listenAddresses(submission, "tls_listen", path, example: "127.0.0.1:465") { config.submissionTLSListen = l }
            }
            if let auth = try subtable(root, "auth", []) { attempt { try applyAuth(auth, to: &config) } }
            if let r = try subtable(root, "recipients", []) {
                let path = ["recipients"]
                try only(r, path, keys: ["delimiter", "postmaster_domain"])
                if let d = try string(r, "delimiter", path) { config.recipientDelimiter = d.isEmpty ? nil : d }
                if let p = try string(r, "postmaster_domain", path) { config.primaryDomain = p.lowercased() }
            }
            if let relay = try subtable(root, "relay", []) { attempt { try applyRelay(relay, to: &config) } }
            if let q = try subtable(root, "queue", []) { attempt { try applyQueue(q, to: &config) } }
            if let d = try subtable(root, "delivery", []) {
                try only(d, ["delivery"], keys: ["local"])
                if let l = try localDelivery(d, "local", ["delivery"]) { config.localDelivery = l }
            }
            if let domains = try subtable(root, "domains", []) { attempt { try applyDomains(domains, to: &config) } }
            if let p = config.primaryDomain, config.domains[p] == nil {
                throw error(["recipients", "postmaster_domain"], "'\(p)' is not one of the local domains")
            }
        }

        func applyTLS(_ tls: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["tls"]
            try only(tls, path, keys: ["certificate", "key", "reload_interval", "legacy_ciphers"])
            if let b = try bool(tls, "legacy_ciphers", path) { config.tlsLegacyCiphers = b }
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

        func applyTopLevel(_ root: TOMLTable, to config: inout PostieConfiguration) throws {
            if let h = try string(root, "hostname", []) {
                if !h.isEmpty, AddressGrammar.isDomain(Array(h.utf8)[...]) {
                    config.hostname = h
                } else {
                    report(["hostname"], "must be a domain name such as mail.example.com")
                }
            }
            if let d = try string(root, "data_dir", []) {
                if d.isEmpty { report(["data_dir"], "must not be empty") } else { config.dataDirectory = d }
            }
            if let m = try string(root, "mail_root", []) {
                if m.isEmpty { report(["mail_root"], "must not be empty") } else { config.mailRoot = m }
            }
            if let l = try string(root, "log_level", []) {
                if let level = Logger.Level(rawValue: l) {
                    config.logLevel = level
                } else {
                    report(["log_level"], "must be one of trace, debug, info, notice, warning, error, critical")
                }
            }
            if let f = try string(root, "log_format", []) {
                if let format = PostieLogHandler.Format(rawValue: f) { config.logFormat = format } else {
                    report(["log_format"], "must be \"text\" or \"json\"")
                }
            }
        }

        func applyRelay(_ relay: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["relay"]
            try only(
                relay, path,
                keys: [
                    "trusted_networks", "port", "routes", "smarthost", "dns_server", "dns_timeout", "dns_attempts", "connect_timeout",
                    "command_timeout", "max_connections", "max_connections_per_destination", "max_messages_per_connection", "tls",
                    "tls_policy", "tls_ca_file", "smarthost_user", "smarthost_password_file", "mx_address_limit", "mx_session_limit",
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
            if let n = try int(relay, "mx_address_limit", path, range: 1...1000) { config.relayMXAddressLimit = n }
            if let n = try int(relay, "mx_session_limit", path, range: 1...100) { config.relayMXSessionLimit = n }
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

        func applyQueue(_ q: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["queue"]
            try only(
                q, path,
                keys: ["retry_minimum", "retry_maximum", "max_lifetime", "bounce_size_limit", "delay_warning", "reports_per_domain_per_hour"])
            if let n = try int(q, "reports_per_domain_per_hour", path, range: 0...100_000) { config.reportsPerDomainPerHour = n }
            if let n = try int(q, "delay_warning", path, range: 0...(100 * 86400)) { config.delayWarning = n }
            if let n = try int(q, "retry_minimum", path, range: 1...86400) { config.retryMinimum = n }
            if let n = try int(q, "retry_maximum", path, range: 1...604800) { config.retryMaximum = n }
            if let n = try int(q, "max_lifetime", path, range: 0...(100 * 86400)) { config.maxLifetime = n }
            if let n = try int(q, "bounce_size_limit", path, range: 0...(100 << 20)) { config.bounceSizeLimit = n }
        }

        func applySMTP(_ smtp: TOMLTable, to config: inout PostieConfiguration) throws {
            let path = ["smtp"]
            try only(
                smtp, path,
                keys: [
                    "listen", "tls_listen", "max_connections", "max_connections_per_client", "command_timeout", "data_timeout", "shutdown_grace",
                    "max_message_size", "max_recipients", "max_errors", "max_received_headers", "data_phase_limit",
                    "max_messages_per_connection", "max_commands_per_connection", "strict_address_syntax",
                    "unauthenticated_local_senders",
                ])
            if let p = try string(smtp, "unauthenticated_local_senders", path) {
                if p == "accept" || p == "refuse" {
                    config.refuseStrangersWithLocalSenders = p == "refuse"
                } else {
                    report(path + ["unauthenticated_local_senders"], "must be \"accept\" or \"refuse\"")
                }
            }
            if let b = try bool(smtp, "strict_address_syntax", path) { config.strictAddressSyntax = b }
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

        /// `[domains.example.com]` without quotes is a table `example` holding a table `com`: the
        /// name it was meant to be, when the table under `name` has only tables in it, none of
        /// them a domain's own key.
        static func unquotedDomain(_ name: String, in domains: TOMLTable) -> String? {
            let own: Set<String> = ["users", "aliases", "catch_all"]
            var labels = [name]
            var table = domains[name]?.tomlValue.table
            while let t = table, !t.keys.contains(where: own.contains), t.keys.count == 1, let only = t.keys.first,
                let next = t[only]?.tomlValue.table
            {
                labels.append(only)
                table = next
            }
            return labels.count > 1 ? labels.joined(separator: ".") : nil
        }

        func applyDomains(_ domains: TOMLTable, to config: inout PostieConfiguration) throws {
            var result: [String: LocalDirectory.Domain] = [:]
            for name in domains.keys.sorted() {
                let path = ["domains", name]
                let lower = name.lowercased()
                if let dotted = Self.unquotedDomain(name, in: domains) {
                    report(
                        ["domains"] + dotted.split(separator: ".").map(String.init),
                        "a domain name with dots needs quotes: write [domains.\"\(dotted)\"]")
                    continue
                }
                guard AddressGrammar.isDomain(Array(lower.utf8)[...]) else { throw error(path, "'\(name)' is not a domain name") }
                guard let table = try subtable(domains, name, ["domains"]) else { continue }
                try only(table, path, keys: ["users", "aliases", "catch_all", "delivery"])
                if let l = try localDelivery(table, "delivery", path) { config.deliveryByDomain[lower] = l }
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
