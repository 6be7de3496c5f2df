import NIOCore

/// Parses server replies (RFC 5321 §4.2) incrementally from the bytes a client reads: lines
/// `250-…` continue a reply, `250 …` ends it. The enhanced status code (RFC 2034) is taken from
/// the first line when present. Lines longer than `maxLineLength` or without a valid code are a
/// protocol error.
public struct ReplyParser: Sendable {
    public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    private var buffer = ByteBuffer()
    private var pendingCode: Int?
    private var pendingLines: [String] = []
    public var maxLineLength = 4096
    public var maxLines = 1000

    public init() {}

    /// Adds bytes; returns every reply they complete.
    public mutating func parse(_ bytes: ByteBuffer) throws(ProtocolError) -> [Reply] {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        var replies: [Reply] = []
        while let lf = buffer.readableBytesView.firstIndex(of: 10) {
            let length = lf - buffer.readerIndex
            var line = buffer.readBytes(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.last == 13 { line.removeLast() }
            if let reply = try take(line) { replies.append(reply) }
        }
        if buffer.readableBytes > maxLineLength { throw ProtocolError(description: "reply line too long") }
        buffer.discardReadBytes()
        return replies
    }

    private mutating func take(_ line: [UInt8]) throws(ProtocolError) -> Reply? {
        guard line.count >= 3, line.count <= maxLineLength,
            line[0...2].allSatisfy({ (48...57).contains($0) }),
            let code = Int(String(decoding: line[0...2], as: UTF8.self)), (200...599).contains(code)
        else { throw ProtocolError(description: "malformed reply: \(String(decoding: line.prefix(80), as: UTF8.self))") }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw ProtocolError(description: "malformed reply separator")
        }
        if let pendingCode, pendingCode != code { throw ProtocolError(description: "reply code changed inside a multi-line reply") }
        pendingCode = code
        pendingLines.append(line.count > 4 ? String(decoding: line[4...], as: UTF8.self) : "")
        guard pendingLines.count <= maxLines else { throw ProtocolError(description: "reply too long") }
        guard separator == UInt8(ascii: " ") else { return nil }
        defer {
            self.pendingCode = nil
            pendingLines = []
        }
        // An enhanced status code whose class matches the reply's leads the text (RFC 2034 §4).
        var lines = pendingLines
        var enhanced: EnhancedStatusCode?
        if let first = lines.first, let space = first.firstIndex(of: " ") ?? (first.isEmpty ? nil : first.endIndex),
            let e = EnhancedStatusCode(String(first[..<space])), e.statusClass == code / 100
        {
            enhanced = e
            lines = lines.map { line in
                guard let sp = line.firstIndex(of: " ") ?? (line.isEmpty ? nil : line.endIndex), EnhancedStatusCode(String(line[..<sp])) != nil else { return line }
                return String(line[sp...].drop { $0 == " " })
            }
        }
        return Reply(code, enhanced, lines: lines)
    }
}
