#if canImport(Glibc)
import Glibc
#endif
import Delivery
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

        /// `[auth.users."name"]`: a password hash and the addresses the user may send as.
        func readUsers(_ auth: TOMLTable, _ config: inout PostieConfiguration) throws {
            let path = ["auth"]
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
                guard config.auth.users[name.lowercased()] == nil else { throw error(userPath, "the user is named twice (names ignore case)") }
                config.auth.users[name.lowercased()] = PostieConfiguration.User(password: hash, sendAs: sendAs)
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

        /// Reads every section of the table (`ConfigurationLoader.sections`): unknown keys are
        /// noted, each key read, then its sub-tables and the checks across its keys. A problem a
        /// section cannot go on from ends that section only.
        func apply(_ root: TOMLTable, to config: inout PostieConfiguration) throws {
            let sections = ConfigurationLoader.sections
            try only(root, [], keys: Set(sections[0].keys.map(\.name) + sections.dropFirst().map(\.name)))
            for section in sections {
                let table: TOMLTable
                if section.name.isEmpty {
                    table = root
                } else {
                    guard let t = try subtable(root, section.name, []) else { continue }
                    table = t
                }
                attempt {
                    if !section.isOpen && !section.name.isEmpty {
                        try only(table, section.path, keys: Set(section.keys.map(\.name) + section.tables))
                    }
                    for key in section.keys { try key.read(self, table, section.path, &config) }
                    try section.readTables(self, table, &config)
                    try section.check(self, &config)
                }
            }
            if let p = config.recipients.postmasterDomain, config.domains[p] == nil {
                throw error(["recipients", "postmaster_domain"], "'\(p)' is not one of the local domains")
            }
        }

        /// A string that must not be empty.
        func nonEmpty(_ table: TOMLTable, _ key: String, _ path: [String]) throws -> String? {
            guard let s = try string(table, key, path) else { return nil }
            if s.isEmpty {
                report(path + [key], "must not be empty")
                return nil
            }
            return s
        }

        /// `[relay.tls_policy]` and `[relay.routes]`: a value per destination domain.
        func readRelayTables(_ relay: TOMLTable, _ config: inout PostieConfiguration) throws {
            let path = ["relay"]
            if let policy = try subtable(relay, "tls_policy", path) {
                let levels = RelayTLS.allCases.map(\.rawValue).joined(separator: ", ")
                for domain in policy.keys {
                    guard let t = try string(policy, domain, path + ["tls_policy"]), let level = RelayTLS(rawValue: t) else {
                        throw error(path + ["tls_policy", domain], "must be one of \(levels)")
                    }
                    config.relay.tlsPolicy[domain.lowercased()] = level
                }
            }
            if let routes = try subtable(relay, "routes", path) {
                for domain in routes.keys {
                    guard AddressGrammar.isDomain(Array(domain.lowercased().utf8)[...]) else {
                        throw error(path + ["routes", domain], "'\(domain)' is not a domain name")
                    }
                    guard let target = try address(routes, domain, path + ["routes"]) else { continue }
                    config.relay.routes[domain.lowercased()] = target
                }
            }
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

        /// `[domains."example.com"]`: users, aliases, a catch-all and how the domain's mail is delivered.
        func readDomains(_ domains: TOMLTable, _ config: inout PostieConfiguration) throws {
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
                try only(table, path, keys: ["users", "aliases", "catch_all", "delivery", "verify"])
                if let l = try localDelivery(table, "delivery", path) { config.deliveryByDomain[lower] = l }
                if let v = try string(table, "verify", path) {
                    guard v == "enforce" || v == "mark" else { throw error(path + ["verify"], "must be \"enforce\" or \"mark\"") }
                    config.verify.byDomain[lower] = v == "enforce"
                }
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
