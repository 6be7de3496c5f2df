import Delivery
import Logging
import MailCore
import SMTPCore
import TOMLKit

/// One key of the configuration file: its name, how its value is read and printed, and whether a
/// reload can apply it. The sections below are the one place a key is declared: loading, the
/// unknown-key check, `check-config`'s printout and the reload's list of keys that wait for a
/// restart all come from them; its default is the initial value of the property it sets.
struct ConfigurationKey {
    let name: String
    /// A reload keeps the running value; the new one applies after a restart.
    let needsRestart: Bool
    /// Reads the value under `name`, if any, into the configuration: a problem is noted (the key
    /// skipped), or thrown when the section cannot go on.
    let read: (ConfigurationLoader.Reader, TOMLTable, [String], inout PostieConfiguration) throws -> Void
    /// The value as TOML; nil prints nothing (an unset optional).
    let show: (PostieConfiguration) -> String?
    /// Puts the running value back into a new configuration.
    let keep: (inout PostieConfiguration, PostieConfiguration) -> Void

    /// A key for the property at `property`: `parse` takes the TOML value (nil: absent or noted),
    /// `format` prints it.
    static func value<T>(
        _ name: String, _ property: WritableKeyPath<PostieConfiguration, T>, restart: Bool = false,
        parse: @escaping (ConfigurationLoader.Reader, TOMLTable, [String]) throws -> T?, format: @escaping (T) -> String?
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, needsRestart: restart,
            read: { reader, table, path, config in
                if let v = try parse(reader, table, path) { config[keyPath: property] = v }
            },
            show: { format($0[keyPath: property]) },
            keep: { new, old in new[keyPath: property] = old[keyPath: property] })
    }

    static func int(_ name: String, _ property: WritableKeyPath<PostieConfiguration, Int>, _ range: ClosedRange<Int>, restart: Bool = false)
        -> ConfigurationKey
    {
        value(name, property, restart: restart, parse: { r, t, p in try r.int(t, name, p, range: range) }, format: { "\($0)" })
    }

    static func seconds(_ name: String, _ property: WritableKeyPath<PostieConfiguration, Double>, _ range: ClosedRange<Double>)
        -> ConfigurationKey
    {
        value(name, property, parse: { r, t, p in try r.seconds(t, name, p, range: range) }, format: { "\($0)" })
    }

    static func bool(_ name: String, _ property: WritableKeyPath<PostieConfiguration, Bool>) -> ConfigurationKey {
        value(name, property, parse: { r, t, p in try r.bool(t, name, p) }, format: { "\($0)" })
    }

    /// One of a few words, each standing for a value.
    static func choice<T: Equatable>(
        _ name: String, _ property: WritableKeyPath<PostieConfiguration, T>, restart: Bool = false, _ words: [(String, T)]
    ) -> ConfigurationKey {
        let must =
            words.count == 2
            ? "must be \(QuotedText.quoted(words[0].0)) or \(QuotedText.quoted(words[1].0))"
            : "must be one of \(words.map(\.0).joined(separator: ", "))"
        return value(
            name, property, restart: restart,
            parse: { r, t, p in
                guard let text = try r.string(t, name, p) else { return nil }
                guard let v = words.first(where: { $0.0 == text })?.1 else {
                    r.report(p + [name], must)
                    return nil
                }
                return v
            },
            format: { v in words.first { $0.1 == v }.map { QuotedText.quoted($0.0) } })
    }

    static func listen(_ name: String, _ property: WritableKeyPath<PostieConfiguration, [HostAndPort]>, example: String)
        -> ConfigurationKey
    {
        value(
            name, property, restart: true, parse: { r, t, p in try r.listenAddresses(t, name, p, example: example) },
            format: { ConfigurationPrinter.list($0.map(\.description)) })
    }

    /// A string that may be absent (no default).
    static func optionalString(_ name: String, _ property: WritableKeyPath<PostieConfiguration, String?>) -> ConfigurationKey {
        value(name, property, parse: { r, t, p in try r.string(t, name, p).map { Optional($0) } }, format: { $0.map(QuotedText.quoted) })
    }

    /// `host:port` that may be absent.
    static func address(
        _ name: String, _ property: WritableKeyPath<PostieConfiguration, HostAndPort?>, restart: Bool = false,
        check: @escaping (HostAndPort) -> String? = { _ in nil }
    ) -> ConfigurationKey {
        value(
            name, property, restart: restart,
            parse: { r, t, p in
                guard let a = try r.address(t, name, p) else { return nil }
                if let problem = check(a) { throw r.error(p + [name], problem) }
                return Optional(a)
            }, format: { $0.map { QuotedText.quoted($0.description) } })
    }
}

/// A table of the file (`[relay]`; "" for the top level): its keys in the order `check-config`
/// prints them, the sub-tables its own code reads, and what is checked across its keys.
struct ConfigurationSection {
    let name: String
    let keys: [ConfigurationKey]
    /// Any key may appear (`[domains]`: each is a domain); `readTables` reads them all.
    var isOpen = false
    /// Tables under this one, read and printed by `readTables` and `printTables`.
    var tables: [String] = []
    var readTables: (ConfigurationLoader.Reader, TOMLTable, inout PostieConfiguration) throws -> Void = { _, _, _ in }
    /// Extra lines after the keys (the sub-tables), given the quoting function.
    var printTables: (PostieConfiguration) -> [String] = { _ in [] }
    /// Checks across keys, after they are read.
    var check: (ConfigurationLoader.Reader, inout PostieConfiguration) throws -> Void = { _, _ in }

    var path: [String] { name.isEmpty ? [] : [name] }

    /// The full names of this section's keys that need a restart.
    var restartKeys: [String] { keys.filter(\.needsRestart).map { name.isEmpty ? $0.name : name + "." + $0.name } }
}

extension PostieConfiguration {
    /// The words `auth.senders`, `auth.header_from` and `smtp.unauthenticated_local_senders` take.
    static let ownOrAny: [(String, Bool)] = [("own", true), ("any", false)]
}
