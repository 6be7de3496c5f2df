/// What a reload changes, key by key (`smtp.max_recipients`, `domains."example.com".users`), and
/// which of those changes wait for a restart: the listeners, the data and mail folders, the log
/// level, and what the DNS resolver and the relay's connection pools were built with.
public struct ConfigurationChanges: Sendable, Equatable {
    /// Every key whose value differs, sorted.
    public var changed: [String]
    /// The changed keys that take effect only after a restart, sorted.
    public var needRestart: [String]

    /// The keys a reload cannot apply (the listeners, the folders, logging, the DNS resolver and
    /// the relay's connection pools are built with them at start).
    public static var restartKeys: Set<String> { Set(ConfigurationLoader.sections.flatMap(\.restartKeys)) }

    public init(from old: PostieConfiguration, to new: PostieConfiguration) {
        let before = Self.keyed(old)
        let after = Self.keyed(new)
        var changed = Set(before.keys).symmetricDifference(after.keys)
        for (key, value) in before where after[key].map({ $0 != value }) == true { changed.insert(key) }
        // Secrets are not printed, so they are compared here.
        if old.relay.smarthostPassword != new.relay.smarthostPassword { changed.insert("relay.smarthost_password_file") }
        self.changed = changed.sorted()
        self.needRestart = changed.filter(Self.restartKeys.contains).sorted()
    }

    /// The configuration to run with after a reload: `new`, except for the keys that need a
    /// restart, which keep the values the server is running with.
    public static func applicable(_ new: PostieConfiguration, running old: PostieConfiguration) -> PostieConfiguration {
        var c = new
        for section in ConfigurationLoader.sections {
            for key in section.keys where key.needsRestart { key.keep(&c, old) }
        }
        return c
    }

    /// Each `key = value` line of the effective configuration under its full key.
    static func keyed(_ configuration: PostieConfiguration) -> [String: String] {
        var result: [String: String] = [:]
        var section = ""
        for line in ConfigurationPrinter.render(configuration).split(separator: "\n") {
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.range(of: " = ") else { continue }
            let key = String(line[..<equals.lowerBound])
            result[section.isEmpty ? key : section + "." + key] = String(line[equals.upperBound...])
        }
        return result
    }
}
