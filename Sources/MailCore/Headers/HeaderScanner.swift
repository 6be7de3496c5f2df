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
    /// The values of the `From:` fields, unfolded (a folded line's break removed), for checking an
    /// authenticated sender's header; at most `fromLimit` octets in all.
    public var fromValues: [String] { fromBytes.map { String(decoding: $0, as: UTF8.self) } }
    /// The `From:` fields held more than `fromLimit` octets (what was kept is cut off).
    public private(set) var fromTooLong = false
    public static let fromLimit = 4096

    private var fromBytes: [[UInt8]] = []
    private var fromKept = 0
    /// The current line belongs to a `From:` field (its first line or a continuation).
    private var inFrom = false
    /// Octets after the field name are being kept.
    private var keepingFrom = false

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
                if lineIsEmptySoFar && (b == 32 || b == 9) && inFrom {
                    // A continuation of the From field: keep it, unfolded.
                    keepingFrom = true
                } else if lineIsEmptySoFar && b != 13 {
                    inFrom = false
                    keepingFrom = false
                }
                if keepingFrom && b != 13 { keepFrom(b) }
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
        if lineStart.starts(with: Array("from:".utf8)) && lineStart.count == 5 {
            hasFrom = true
            inFrom = true
            keepingFrom = true
            fromBytes.append([])
        }
        if lineStart == Array("message-id:".utf8) { hasMessageID = true }
        lineStart.append(contentsOf: repeatElement(0, count: Self.capture))  // stop capturing this line
    }

    private mutating func keepFrom(_ b: UInt8) {
        guard !fromBytes.isEmpty else { return }
        guard fromKept < Self.fromLimit else {
            fromTooLong = true
            return
        }
        fromKept += 1
        fromBytes[fromBytes.count - 1].append(b)
    }

    private mutating func finishLine() {
        lineStart.removeAll(keepingCapacity: true)
        lineIsEmptySoFar = true
    }
}
