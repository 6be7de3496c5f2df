import NIOCore

/// Encodes a message for the DATA phase (RFC 5321 §4.5.2): doubles a dot at the start of a line,
/// turns any lone CR or LF into CRLF (canonical out, so a bare line ending can never leave us),
/// and ends with `CRLF.CRLF`, adding the last line ending when the message lacks one.
///
/// For BDAT (RFC 3030) it encodes without dot-stuffing (`dotStuffing: false`): line endings made
/// canonical the same way, and `finish` writes the last line ending only.
public struct DataEncoder: Sendable {
    private var atLineStart = true
    private var pendingCR = false
    private let dotStuffing: Bool

    public init(dotStuffing: Bool = true) {
        self.dotStuffing = dotStuffing
    }

    public mutating func encode(_ input: ByteBuffer, into out: inout ByteBuffer) {
        input.withUnsafeReadableBytes { raw in
            var runStart = 0
            func flush(_ end: Int, _ out: inout ByteBuffer) {
                if end > runStart { out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<end])) }
            }
            for i in 0..<raw.count {
                let b = raw[i]
                if pendingCR {
                    // A CR ends the line whether or not an LF follows it.
                    pendingCR = false
                    out.writeStaticString("\r\n")
                    atLineStart = true
                    if b == 10 {
                        runStart = i + 1
                        continue
                    }
                }
                switch b {
                case 13:
                    flush(i, &out)
                    pendingCR = true
                    runStart = i + 1
                case 10:
                    // Lone LF: write CRLF.
                    flush(i, &out)
                    out.writeStaticString("\r\n")
                    runStart = i + 1
                    atLineStart = true
                case UInt8(ascii: ".") where atLineStart && dotStuffing:
                    flush(i, &out)
                    out.writeInteger(UInt8(ascii: "."))
                    runStart = i  // the dot itself is written with the run
                    atLineStart = false
                default:
                    atLineStart = false
                }
            }
            flush(raw.count, &out)
        }
    }

    /// Writes the end of the data: a final line ending if needed, then `.CRLF`.
    public mutating func finish(into out: inout ByteBuffer) {
        if pendingCR {
            out.writeStaticString("\r\n")
            pendingCR = false
        } else if !atLineStart {
            out.writeStaticString("\r\n")
        }
        if dotStuffing { out.writeStaticString(".\r\n") }
        atLineStart = true
    }
}
