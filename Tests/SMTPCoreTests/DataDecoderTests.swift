import NIOCore
import SMTPCore
import Testing

@Suite struct DataDecoderTests {
    struct Outcome: Equatable {
        var message: String
        var finished: Bool
        var problem: MessageDataProblem?
        var rest: String
    }

    /// Decodes `input` split into pieces of `chunk` octets (0: all at once).
    func decode(_ input: String, chunk: Int = 0, maxSize: Int = 1 << 20) -> Outcome {
        var decoder = DataDecoder(maxSize: maxSize)
        var out = ByteBuffer()
        let bytes = Array(input.utf8)
        let size = chunk == 0 ? max(bytes.count, 1) : chunk
        var offset = 0
        var finished = false
        var rest = ""
        while offset < bytes.count {
            var piece = ByteBuffer(bytes: bytes[offset..<min(bytes.count, offset + size)])
            offset += size
            if decoder.decode(&piece, into: &out) {
                finished = true
                rest = String(buffer: piece) + String(decoding: bytes[min(offset, bytes.count)...], as: UTF8.self)
                break
            }
            #expect(piece.readableBytes == 0)
        }
        return Outcome(message: String(buffer: out), finished: finished, problem: decoder.problem, rest: rest)
    }

    /// The same outcome whether the input arrives at once, byte by byte, or in odd pieces.
    func decodeEveryWay(_ input: String, maxSize: Int = 1 << 20) -> Outcome {
        let whole = decode(input, maxSize: maxSize)
        for chunk in [1, 2, 3, 7] {
            #expect(decode(input, chunk: chunk, maxSize: maxSize) == whole, "chunk \(chunk)")
        }
        return whole
    }

    @Test func endsAtCRLFDotCRLF() {
        let o = decodeEveryWay("Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        #expect(o == Outcome(message: "Subject: x\r\n\r\nhello\r\n", finished: true, problem: nil, rest: "QUIT\r\n"))
    }

    @Test func emptyMessage() {
        #expect(decodeEveryWay(".\r\n") == Outcome(message: "", finished: true, problem: nil, rest: ""))
    }

    @Test func removesDotStuffing() {
        let o = decodeEveryWay("..hidden\r\n...two\r\n.x\r\na.b\r\n.\r\n")
        #expect(o.message == ".hidden\r\n..two\r\nx\r\na.b\r\n")
        #expect(o.problem == nil)
    }

    @Test func notFinishedWithoutTerminator() {
        let o = decodeEveryWay("line\r\n.")
        #expect(!o.finished)
        #expect(o.message == "line\r\n")
    }

    /// Every known smuggling form: none ends the message; each makes it refused; the real end
    /// is still found.
    @Test(arguments: ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n.\rX\r\n"])
    func smugglingNeverEndsTheMessage(sequence: String) {
        let input = "Subject: a\r\n\r\nbody" + sequence + "MAIL FROM:<evil@x.y>\r\nRCPT TO:<v@x.y>\r\nDATA\r\nspoof\r\n.\r\nNOOP\r\n"
        let o = decodeEveryWay(input)
        #expect(o.finished)
        #expect(o.problem == .bareLineEnding)
        #expect(o.rest == "NOOP\r\n")
    }

    @Test func bareLFAndCRAreProblems() {
        #expect(decodeEveryWay("a\nb\r\n.\r\n").problem == .bareLineEnding)
        #expect(decodeEveryWay("a\rb\r\n.\r\n").problem == .bareLineEnding)
        #expect(decodeEveryWay("a\r\r\n.\r\n").problem == .bareLineEnding)
        #expect(decodeEveryWay("\n.\r\n").problem == .bareLineEnding)
    }

    @Test func longLinesAreReadToTheEndAndRefused() {
        let ok = String(repeating: "x", count: 998)
        #expect(decodeEveryWay(ok + "\r\n.\r\n").problem == nil)
        let o = decodeEveryWay(ok + "y\r\nnext\r\n.\r\nQUIT\r\n")
        #expect(o.problem == .lineTooLong)
        #expect(o.rest == "QUIT\r\n")
    }

    @Test func oversizeIsReadToTheEndAndRefused() {
        let body = String(repeating: "0123456789\r\n", count: 20)
        let o = decodeEveryWay(body + ".\r\nQUIT\r\n", maxSize: 100)
        #expect(o.finished)
        #expect(o.problem == .tooBig)
        #expect(o.message.utf8.count == 100)
        #expect(o.rest == "QUIT\r\n")
    }

    @Test func bareLineEndingOutranksOtherProblems() {
        let o = decodeEveryWay(String(repeating: "x", count: 1200) + "\r\na\nb\r\n.\r\n")
        #expect(o.problem == .bareLineEnding)
    }

    @Test func eightBitAndNULPassThrough() {
        let o = decodeEveryWay("caf\u{e9} \u{0}\r\n.\r\n")
        #expect(o.message == "caf\u{e9} \u{0}\r\n")
        #expect(o.problem == nil)
    }
}

@Suite struct ChunkDecoderTests {
    func run(_ chunks: [String], maxSize: Int = 1 << 20) -> (String, MessageDataProblem?) {
        var decoder = ChunkDecoder(maxSize: maxSize)
        var out = ByteBuffer()
        for c in chunks {
            var b = ByteBuffer(string: c)
            _ = decoder.decode(&b, limit: b.readableBytes, into: &out)
        }
        decoder.finish()
        return (String(buffer: out), decoder.problem)
    }

    @Test func crlfAcrossChunksIsOneLineEnding() {
        let (message, problem) = run(["Subject: x\r", "\n\r\nbody\r\n"])
        #expect(message == "Subject: x\r\n\r\nbody\r\n")
        #expect(problem == nil)
    }

    @Test func noDotStuffingInChunks() {
        #expect(run([".\r\n..\r\n"]).0 == ".\r\n..\r\n")
    }

    @Test(arguments: [["a\nb"], ["a\r", "b"], ["a\r"], ["\n.\n"], ["x\r\n.\r", "X"]])
    func bareLineEndingsAcrossChunks(chunks: [String]) {
        #expect(run(chunks).1 == .bareLineEnding)
    }

    @Test func limitTakesOnlyTheChunk() {
        var decoder = ChunkDecoder(maxSize: 100)
        var out = ByteBuffer()
        var input = ByteBuffer(string: "abcdQUIT\r\n")
        #expect(decoder.decode(&input, limit: 4, into: &out) == 4)
        #expect(String(buffer: input) == "QUIT\r\n")
        #expect(String(buffer: out) == "abcd")
    }

    @Test func oversize() {
        #expect(run([String(repeating: "a\r\n", count: 50)], maxSize: 100).1 == .tooBig)
    }
}
