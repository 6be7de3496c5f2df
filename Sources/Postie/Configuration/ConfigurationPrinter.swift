/// The effective configuration as TOML, for `postie check-config`: what the server would run with.
/// Every key comes from `ConfigurationLoader.sections`, in their order.
public enum ConfigurationPrinter {
    public static func render(_ c: PostieConfiguration) -> String {
        var lines: [String] = []
        for section in ConfigurationLoader.sections {
            if !section.name.isEmpty && !section.keys.isEmpty { lines += ["", "[\(section.name)]"] }
            for key in section.keys {
                if let value = key.show(c) { lines.append("\(key.name) = \(value)") }
            }
            lines += section.printTables(c)
        }
        return lines.joined(separator: "\n")
    }

    /// A TOML list of strings.
    static func list(_ items: [String]) -> String { "[" + items.map(QuotedText.quoted).joined(separator: ", ") + "]" }
}
