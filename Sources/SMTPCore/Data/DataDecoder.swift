import NIOCore

/// What a message-data decoder found wrong with the message, decided once its end is reached.
public enum MessageDataProblem: Hashable, Sendable {
    /// A CR not followed by LF, or an LF not preceded by CR: the root of SMTP smuggling.
    case bareLineEnding
    /// A text line longer than RFC 5321 §4.5.3.1.6 allows.
    case lineTooLong
    /// More octets than the size limit.
    case tooBig

    /// The problem reported when a message has several: a bare line ending (smuggling) first, then
    /// the size, then a long line. A fixed order, so the reply never depends on how the data was
    /// cut into reads (the fuzzer found that it did).
    static func graver(_ a: MessageDataProblem?, _ b: MessageDataProblem) -> MessageDataProblem {
        guard let a else { return b }
        return a.rank >= b.rank ? a : b
    }

    private var rank: Int {
        switch self {
        case .bareLineEnding: return 3
        case .tooBig: return 2
        case .lineTooLong: return 1
        }
    }

    public var reply: Reply {
        switch self {
        case .bareLineEnding: return .bareLineEnding
        case .lineTooLong: return .lineTooLongInData
        case .tooBig: return .messageTooBig
        }
    }
}

/// Decodes the DATA phase (RFC 5321 §4.1.1.4, §4.5.2) incrementally: removes dot-stuffing,
/// recognises only `CRLF.CRLF` as the end, and keeps reading to the end when the message breaks a
/// rule, so that the client's remaining data is never read as commands and no smuggled second
/// message can begin. A bare CR or LF never starts a line, so `\n.\n`, `\n.\r\n`, `\r.\r` and
/// their kin are message content (and make the message rejected), never its end.
///
/// Written by hand: the strict CRLF rules are the point, and no library has them.
public struct DataDecoder: Sendable {
    enum State: Sendable {
        case lineStart
        case inLine
        case cr
        case dot
        case dotCR
    }

    private var state = State.lineStart
    private var lineLength = 0
    /// Octets of decoded message so far (counted even past the limit).
    public private(set) var size = 0
    public private(set) var problem: MessageDataProblem?
    public let maxSize: Int
    /// Longest line content, without CRLF.
    public let maxLineContent: Int

    public init(maxSize: Int, maxLineLength: Int = 1000) {
        self.maxSize = maxSize
        self.maxLineContent = maxLineLength - 2
    }

    private mutating func flag(_ p: MessageDataProblem) {
        problem = MessageDataProblem.graver(problem, p)
    }

    /// Consumes octets from `input`, appends decoded message octets to `output` (none once the
    /// size limit is passed), and returns true when the terminating `CRLF.CRLF` has been read;
    /// `input` is then left just after it.
    public mutating func decode(_ input: inout ByteBuffer, into output: inout ByteBuffer) -> Bool {
        var finished = false
        let consumed = input.withUnsafeReadableBytes { raw -> Int in
            var i = 0
            let n = raw.count
            // Octets pass through unchanged except a line's leading dot and the end marker, so
            // they are copied in runs: a run ends only at a line-start dot, a held-back CR after
            // one, or the end of the input. Line endings are part of the run.
            var runStart = -1
            @inline(__always) func flushRun(_ end: Int, _ output: inout ByteBuffer, _ me: inout DataDecoder) {
                if runStart >= 0 {
                    me.emit(UnsafeRawBufferPointer(rebasing: raw[runStart..<end]), &output)
                    runStart = -1
                }
            }
            while i < n {
                switch state {
                case .inLine:
                    // The common case, kept tight: line content up to the next CR or LF.
                    if runStart < 0 { runStart = i }
                    let j = OctetScan.firstLineEnding(in: raw, from: i)
                    lineLength += j - i
                    if lineLength > maxLineContent { flag(.lineTooLong) }
                    i = j
                    guard i < n else { break }
                    if raw[i] == 13 {
                        state = .cr
                    } else {
                        flag(.bareLineEnding)  // LF without CR: message content, not a line end
                    }
                    i += 1
                case .cr:
                    // The CR is message content whatever follows it.
                    if runStart < 0 { runStart = i }
                    let b = raw[i]
                    if b == 10 {
                        state = .lineStart
                        i += 1
                    } else {
                        flag(.bareLineEnding)
                        if b == 13 {
                            i += 1
                        } else {
                            state = .inLine
                        }
                    }
                case .lineStart:
                    lineLength = 0
                    let b = raw[i]
                    if b == UInt8(ascii: ".") {
                        // Stuffing or the end marker: either way the dot is not message.
                        flushRun(i, &output, &self)
                        state = .dot
                        i += 1
                    } else {
                        if runStart < 0 { runStart = i }
                        if b == 10 { flag(.bareLineEnding) }
                        state = b == 13 ? .cr : .inLine
                        if b != 13 && b != 10 { lineLength = 1 }
                        i += 1
                    }
                case .dot:
                    let b = raw[i]
                    if b == 13 {
                        state = .dotCR  // held back: it may begin the end marker's CRLF
                        i += 1
                    } else {
                        runStart = i
                        if b == 10 {
                            flag(.bareLineEnding)
                        } else {
                            lineLength = 1
                        }
                        state = .inLine
                        i += 1
                    }
                case .dotCR:
                    if raw[i] == 10 {
                        finished = true  // CRLF.CRLF: the end
                        return i + 1
                    }
                    flag(.bareLineEnding)
                    emit(byte: 13, &output)
                    state = .inLine  // look at this octet again as line content
                }
            }
            flushRun(n, &output, &self)
            return n
        }
        input.moveReaderIndex(forwardBy: consumed)
        return finished
    }

    @inline(__always)
    private mutating func emit(byte: UInt8, _ output: inout ByteBuffer) {
        size += 1
        if size > maxSize { flag(.tooBig) } else { output.writeInteger(byte) }
    }

    @inline(__always)
    private mutating func emit(_ bytes: UnsafeRawBufferPointer, _ output: inout ByteBuffer) {
        let room = max(0, maxSize - size)
        size += bytes.count
        if bytes.count > room {
            flag(.tooBig)
            if room > 0 { output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<room])) }
        } else {
            output.writeBytes(bytes)
        }
    }
}
