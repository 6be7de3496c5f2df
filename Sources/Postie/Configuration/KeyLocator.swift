/// Finds the line on which a key of a TOML document is set, so that errors found after parsing
/// (a wrong type, an unknown key, a bad value) can name it. TOMLKit reports lines only for
/// syntax errors; this reads the text once for table headers and `key =` lines. Written by hand
/// for that reason only: the parsing itself is TOMLKit's.
struct KeyLocator {
    private var lines: [[String]: Int] = [:]

    init(text: String) {
        var table: [String] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("[[") {
                table = Self.components(line.dropFirst(2).prefix { $0 != "]" })
                lines[table] = lines[table] ?? index + 1
            } else if line.hasPrefix("[") {
                table = Self.components(Self.untilClosingBracket(line.dropFirst()))
                lines[table] = lines[table] ?? index + 1
            } else if let eq = Self.assignment(line) {
                let path = table + Self.components(line[..<eq])
                lines[path] = lines[path] ?? index + 1
            }
        }
    }

    /// The line of the key, or of the nearest enclosing key or table that has one.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let n = lines[path] { return n }
            path.removeLast()
        }
        return nil
    }

    private static func untilClosingBracket(_ s: Substring) -> Substring {
        var inQuote = false
        for i in s.indices {
            if s[i] == "\"" { inQuote.toggle() }
            if s[i] == "]" && !inQuote { return s[..<i] }
        }
        return s
    }

    /// The index of `=` in a `key = value` line (outside quotes), if it is one.
    private static func assignment(_ s: Substring) -> Substring.Index? {
        guard let first = s.first, first != "#" else { return nil }
        var inQuote = false
        for i in s.indices {
            if s[i] == "\"" || s[i] == "'" { inQuote.toggle() }
            if s[i] == "=" && !inQuote { return i }
        }
        return nil
    }

    /// `a."b.c" . d` → ["a", "b.c", "d"].
    static func components(_ s: Substring) -> [String] {
        var result: [String] = []
        var current = ""
        var quote: Character?
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                result.append(current)
                current = ""
            } else if c != " " && c != "\t" {
                current.append(c)
            }
        }
        result.append(current)
        return result
    }
}
