import NIOCore

/// A push parser over the header section of a message (RFC 5322 §2.2), fed the message in chunks
/// as it arrives. It counts `Received:` fields for the loop guard (RFC 5321 §6.3) and notes the
/// fields whose absence matters, without keeping the message. Stops looking at the first empty
/// line.
///
/// Written by hand: it must run over the stream without buffering the message, which no
/// available MIME library does.
public struct HeaderScanner: Sendable {
    public private(set) var receivedCount = 0
    public private(set) var hasDate = false
    public private(set) var hasMessageID = false
    public private(set) var hasFrom = false
    /// The empty line that ends the header section has been seen.
    public private(set) var headerEnded = false
    /// Octets of the header section so far.
    public private(set) var headerLength = 0

    /// The start of the current line, lower-cased, up to the length of the longest name we look for.
    private var lineStart: [UInt8] = []
    private var lineIsEmptySoFar = true
    private static let capture = 11  // "message-id:".count

    public init() {}

    public mutating func scan(_ buffer: ByteBuffer) {
        guard !headerEnded else { return }
        buffer.withUnsafeReadableBytes { raw in
            for b in raw {
                if headerEnded { return }
                headerLength += 1
                if b == 10 {
                    if lineIsEmptySoFar {
                        // "\r\n" alone: the header section is over.
                        headerEnded = true
                        return
                    }
                    finishLine()
                    continue
                }
                if b != 13 { lineIsEmptySoFar = false }
                if lineStart.count < Self.capture {
                    lineStart.append(b >= 65 && b <= 90 ? b | 0x20 : b)
                    if lineStart.count == Self.capture || b == UInt8(ascii: ":") { classify() }
                }
            }
        }
    }

    private mutating func classify() {
        if lineStart.starts(with: Array("received:".utf8)) && lineStart.count == 9 { receivedCount += 1 }
        if lineStart.starts(with: Array("date:".utf8)) && lineStart.count == 5 { hasDate = true }
        if lineStart.starts(with: Array("from:".utf8)) && lineStart.count == 5 { hasFrom = true }
        if lineStart == Array("message-id:".utf8) { hasMessageID = true }
        lineStart.append(contentsOf: repeatElement(0, count: Self.capture))  // stop capturing this line
    }

    private mutating func finishLine() {
        lineStart.removeAll(keepingCapacity: true)
        lineIsEmptySoFar = true
    }
}
