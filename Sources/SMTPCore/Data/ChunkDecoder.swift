import NIOCore

/// Checks BDAT chunks (RFC 3030) with the same rules as DATA: CRLF line endings only, text lines
/// within the limit, the message within the size limit. Chunks carry no dot-stuffing; the state
/// runs across chunk boundaries, so a CR at the end of one chunk and an LF at the start of the
/// next make one line ending.
public struct ChunkDecoder: Sendable {
    private var previousWasCR = false
    private var lineLength = 0
    public private(set) var size = 0
    public private(set) var problem: MessageDataProblem?
    public let maxSize: Int
    public let maxLineContent: Int

    public init(maxSize: Int, maxLineLength: Int = 1000) {
        self.maxSize = maxSize
        self.maxLineContent = maxLineLength - 2
    }

    private mutating func flag(_ p: MessageDataProblem) {
        problem = MessageDataProblem.graver(problem, p)
    }

    /// Takes up to `limit` octets from `input`, checks them, and appends them to `output` while
    /// the message is within its size limit. Returns how many octets it took.
    public mutating func decode(_ input: inout ByteBuffer, limit: Int, into output: inout ByteBuffer) -> Int {
        let count = min(limit, input.readableBytes)
        guard count > 0 else { return 0 }
        input.withUnsafeReadableBytes { raw in
            for i in 0..<count {
                let b = raw[i]
                if previousWasCR {
                    if b != 10 { flag(.bareLineEnding) }
                    lineLength = 0
                } else if b == 10 {
                    flag(.bareLineEnding)
                }
                previousWasCR = b == 13
                if b != 13 && b != 10 {
                    lineLength += 1
                    if lineLength > maxLineContent { flag(.lineTooLong) }
                }
            }
            let room = max(0, maxSize - size)
            if count > room {
                flag(.tooBig)
                if room > 0 { output.writeBytes(UnsafeRawBufferPointer(rebasing: raw[0..<room])) }
            } else {
                output.writeBytes(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
            }
        }
        size += count
        input.moveReaderIndex(forwardBy: count)
        return count
    }

    /// Called after the LAST chunk: a trailing CR is a bare one.
    public mutating func finish() {
        if previousWasCR { flag(.bareLineEnding) }
    }
}
