/// Drops chosen fields from a message's header section as the message streams through, keeping
/// every other octet as it came (the body passes untouched). A field is held until it ends —
/// at most `limit` octets: a longer field is passed on as it comes, unless its name alone decides
/// to drop it. Used to remove `Authentication-Results:` fields that claim to be ours (RFC 8601
/// §5) before a message is stored. A value with no I/O; CRLF line endings, as DATA gives them.
public struct HeaderFieldFilter: Sendable {
    /// Whether to drop a whole field (its octets, name to CRLF, folded lines included).
    public typealias Decision = @Sendable (_ name: String, _ field: [UInt8]) -> Bool

    private let drop: Decision
    /// Names (lower case) whose fields are dropped unread when they outgrow the limit.
    private let dropWhenLong: Set<String>
    private let limit: Int
    private var inBody = false
    /// The field being read (its lines so far, the last maybe partial).
    private var field: [UInt8] = []
    /// The current field outgrew the limit: its rest goes straight out (or nowhere).
    private var overflow: Overflow?
    private enum Overflow { case pass, drop }
    /// At the start of a line (so a space or tab continues the field, anything else starts one).
    private var lineStart = true
    /// Fields dropped so far.
    public private(set) var dropped = 0

    public init(limit: Int = 64 * 1024, dropWhenLong: Set<String> = [], drop: @escaping Decision) {
        self.limit = limit
        self.dropWhenLong = dropWhenLong
        self.drop = drop
    }

    /// The octets to pass on for the next chunk of the message.
    public mutating func filter(_ bytes: some Collection<UInt8>) -> [UInt8] {
        if inBody { return Array(bytes) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if inBody {
                out += bytes[index...]
                break
            }
            let byte = bytes[index]
            bytes.formIndex(after: &index)
            if lineStart {
                lineStart = false
                if byte != 0x20 && byte != 0x09 {
                    // A new field, or the blank line that ends the section: the last field is whole.
                    flush(into: &out)
                    if byte == 0x0D || byte == 0x0A {
                        // The blank line: it and the body go out as they are. (Accepted mail
                        // has no bare CR or LF, so a CR here is the blank line's.)
                        out.append(byte)
                        inBody = true
                        continue
                    }
                }
            }
            switch overflow {
            case .pass?: out.append(byte)
            case .drop?: break
            case nil:
                field.append(byte)
                if field.count > limit {
                    overflow = dropWhenLong.contains(Self.name(field)) ? .drop : .pass
                    if overflow == .pass { out += field }
                    field = []
                }
            }
            if byte == 0x0A { lineStart = true }
        }
        return out
    }

    /// The end of the message: what is still held.
    public mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        flush(into: &out)
        return out
    }

    private mutating func flush(into out: inout [UInt8]) {
        defer {
            field = []
            overflow = nil
        }
        guard overflow == nil, !field.isEmpty else { return }
        if drop(Self.name(field), field) {
            dropped += 1
        } else {
            out += field
        }
    }

    /// A field's name in lower case (the octets before its colon).
    static func name(_ field: [UInt8]) -> String {
        let end = field.firstIndex(of: UInt8(ascii: ":")) ?? field.endIndex
        return String(decoding: field[..<end], as: UTF8.self).trimmingSpaces.lowercased()
    }
}
