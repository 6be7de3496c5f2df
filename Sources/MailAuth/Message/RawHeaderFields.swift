/// One field of a message's header section as it is on the wire: the name, and every octet of
/// the field from its name to the end of its last continuation line (folding kept, the final
/// CRLF not). Signatures are made over these octets, so nothing here unfolds or decodes.
public struct RawHeaderField: Sendable, Equatable {
    /// As written (case kept).
    public var name: String
    public var octets: [UInt8]

    public init(name: String, octets: [UInt8]) {
        self.name = name
        self.octets = octets
    }

    /// The value: the octets after the colon, folding kept.
    public var value: ArraySlice<UInt8> {
        let colon = octets.firstIndex(of: UInt8(ascii: ":")) ?? octets.endIndex
        return octets[min(colon + 1, octets.endIndex)...]
    }
}

/// The header section at the start of a message (CRLF line endings, as Postie stores messages;
/// a bare LF ends a line too).
public struct RawHeaderSection: Sendable {
    public var fields: [RawHeaderField]
    /// Where the body starts: after the empty line that ends the header section, or where a line
    /// that is not a header field begins (then there is no empty line), or the end.
    public var bodyOffset: Int
    /// The header section ended (an empty line or a non-field line was seen) within the octets.
    public var isComplete: Bool

    public init(_ message: some Collection<UInt8>) {
        let bytes = Array(message)
        var fields: [RawHeaderField] = []
        var i = 0
        var complete = false
        var body = bytes.count
        while i < bytes.count {
            let lineEnd = bytes[i...].firstIndex(of: 10) ?? bytes.count
            // A last line without its line ending is judged by what it is so far, and the
            // section is not known to be complete.
            let unterminated = lineEnd == bytes.count
            let next = min(lineEnd + 1, bytes.count)
            var contentEnd = lineEnd
            if contentEnd > i && bytes[contentEnd - 1] == 13 { contentEnd -= 1 }
            if contentEnd == i {
                // The empty line (CRLF, or a lone LF).
                complete = lineEnd < bytes.count
                body = next
                break
            }
            let first = bytes[i]
            if first == 32 || first == 9, !fields.isEmpty {
                fields[fields.count - 1].octets += [13, 10] + bytes[i..<contentEnd]
            } else if let colon = bytes[i..<contentEnd].firstIndex(of: UInt8(ascii: ":")),
                case let name = bytes[i..<colon].reversed().drop(while: { $0 == 32 || $0 == 9 }).reversed(),
                !name.isEmpty, name.allSatisfy({ $0 > 32 && $0 < 127 })
            {
                // (Whitespace before the colon is RFC 5322's obsolete syntax; the name is without it.)
                fields.append(RawHeaderField(name: String(decoding: name, as: UTF8.self), octets: Array(bytes[i..<contentEnd])))
            } else if unterminated {
                // Perhaps a field's name, cut short.
                body = i
                break
            } else {
                // Not a field: the body starts here.
                complete = true
                body = i
                break
            }
            i = next
        }
        self.fields = fields
        self.bodyOffset = body
        self.isComplete = complete
    }
}
