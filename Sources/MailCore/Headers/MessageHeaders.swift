/// The header section of a message (RFC 5322 §2.2) as name/value pairs, unfolded, for the few
/// places that read headers whole (`sendmail -t`). Streams use `HeaderScanner` instead.
public struct MessageHeaders: Sendable {
    public var fields: [(name: String, value: String)]
    /// Octets of the header section, including the empty line that ends it (0 if none).
    public var length: Int

    /// Parses the header section at the start of `message` (CRLF or LF line endings).
    public init(_ message: [UInt8]) {
        var fields: [(String, String)] = []
        var i = 0
        var current: (String, String)?
        var length = message.count
        while i < message.count {
            var end = message[i...].firstIndex(of: 10) ?? message.count
            let next = min(end + 1, message.count)
            if end > i && message[end - 1] == 13 { end -= 1 }
            let line = message[i..<end]
            if line.isEmpty {
                length = next
                break
            }
            if line.first == 32 || line.first == 9 {
                current?.1 += " " + String(decoding: line, as: UTF8.self).trimmingSpaces
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                if let c = current { fields.append(c) }
                current = (String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces)
            } else {
                // Not a header line: the body starts here (no empty line).
                length = i
                break
            }
            i = next
        }
        if let c = current { fields.append(c) }
        self.fields = fields
        self.length = min(length, message.count)
    }

    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    public func has(_ name: String) -> Bool { !values(name).isEmpty }

    /// The addr-specs in an address-list field value: `A <a@x>, b@y (Bob), "C, D" <c@z>`.
    public static func addresses(in value: String) -> [String] {
        var items: [String] = []
        var current = ""
        var inQuote = false
        var depth = 0
        for ch in value {
            if ch == "\"" { inQuote.toggle() }
            if !inQuote {
                if ch == "(" { depth += 1 }
                if ch == ")" { depth = max(0, depth - 1); continue }
                if depth > 0 { continue }
                if ch == "," {
                    items.append(current)
                    current = ""
                    continue
                }
            }
            current.append(ch)
        }
        items.append(current)
        return items.compactMap { item in
            var text = item.trimmingSpaces
            if let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close {
                text = String(text[text.index(after: open)..<close])
            }
            // Group syntax "name: a@b, c@d;" is rare in submissions; its parts come through as items.
            if let colon = text.firstIndex(of: ":"), !text.hasPrefix("\"") { text = String(text[text.index(after: colon)...]) }
            text = text.trimmingSpaces.trimmingCharacters(";")
            return text.contains("@") ? text : nil
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    func trimmingCharacters(_ c: Character) -> String {
        var s = Substring(self)
        while s.last == c { s = s.dropLast() }
        return String(s)
    }
}
