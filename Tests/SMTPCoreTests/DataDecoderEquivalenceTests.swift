import NIOCore
@testable import SMTPCore
import Testing

/// `DataDecoder` copies octets in runs for speed; this checks it against the rules written out
/// one octet at a time, on many random inputs cut into random pieces.
@Suite struct DataDecoderEquivalenceTests {
    /// The DATA rules, an octet at a time: a line starts after CRLF; a leading dot is dropped;
    /// `CRLF.CRLF` ends the message; a CR not followed by LF or an LF not after CR is content and
    /// a problem; content of more than `maxLineContent` octets on a line is a problem; octets past
    /// `maxSize` are counted but not kept.
    struct Reference {
        enum State { case lineStart, inLine, cr, dot, dotCR }
        var state = State.lineStart
        var lineLength = 0
        var size = 0
        var problem: MessageDataProblem?
        var output: [UInt8] = []
        let maxSize: Int
        let maxLineContent: Int

        mutating func flag(_ p: MessageDataProblem) { problem = MessageDataProblem.graver(problem, p) }

        mutating func emit(_ b: UInt8) {
            size += 1
            if size > maxSize { flag(.tooBig) } else { output.append(b) }
        }

        /// Octets taken; `finished` when the end marker was among them.
        mutating func decode(_ input: [UInt8]) -> (taken: Int, finished: Bool) {
            var i = 0
            while i < input.count {
                let b = input[i]
                switch state {
                case .lineStart:
                    lineLength = 0
                    switch b {
                    case UInt8(ascii: "."): state = .dot
                    case 13: state = .cr
                    case 10: flag(.bareLineEnding); emit(10); state = .inLine
                    default: emit(b); lineLength = 1; state = .inLine
                    }
                case .inLine:
                    switch b {
                    case 13: state = .cr
                    case 10: flag(.bareLineEnding); emit(10)
                    default:
                        emit(b)
                        lineLength += 1
                        if lineLength > maxLineContent { flag(.lineTooLong) }
                    }
                case .cr:
                    emit(13)
                    if b == 10 {
                        emit(10)
                        state = .lineStart
                    } else {
                        flag(.bareLineEnding)
                        if b != 13 {
                            state = .inLine
                            continue
                        }
                    }
                case .dot:
                    switch b {
                    case 13: state = .dotCR
                    case 10: flag(.bareLineEnding); emit(10); state = .inLine
                    default: emit(b); lineLength = 1; state = .inLine
                    }
                case .dotCR:
                    if b == 10 { return (i + 1, true) }
                    flag(.bareLineEnding)
                    emit(13)
                    state = .inLine
                    continue
                }
                i += 1
            }
            return (input.count, false)
        }

        /// A CR waiting at the end of the input for the octet after it is message content.
        var pendingCR: Bool { state == .cr }
    }

    struct Outcome: Equatable {
        var output: [UInt8]
        var taken: Int
        var finished: Bool
        var problem: MessageDataProblem?
        var size: Int
    }

    static func decoded(_ pieces: [[UInt8]], maxSize: Int, maxLineLength: Int) -> Outcome {
        var decoder = DataDecoder(maxSize: maxSize, maxLineLength: maxLineLength)
        var output = ByteBuffer()
        var taken = 0
        for piece in pieces {
            var input = ByteBuffer(bytes: piece)
            let finished = decoder.decode(&input, into: &output)
            taken += piece.count - input.readableBytes
            if finished {
                return Outcome(output: Array(output.readableBytesView), taken: taken, finished: true, problem: decoder.problem, size: decoder.size)
            }
        }
        return Outcome(output: Array(output.readableBytesView), taken: taken, finished: false, problem: decoder.problem, size: decoder.size)
    }

    static func reference(_ stream: [UInt8], maxSize: Int, maxLineLength: Int) -> Outcome {
        var r = Reference(maxSize: maxSize, maxLineContent: maxLineLength - 2)
        let (taken, finished) = r.decode(stream)
        var size = r.size
        var output = r.output
        // The fast decoder passes on a CR that ends its input at once; the reference holds it
        // until it sees the next octet. Both count it as message content.
        if !finished, r.pendingCR {
            size += 1
            if size <= maxSize { output.append(13) } else { r.flag(.tooBig) }
        }
        return Outcome(output: output, taken: taken, finished: finished, problem: r.problem, size: size)
    }

    /// A small deterministic generator (SplitMix64), so that a failure can be replayed.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func runsDecodeLikeTheOctetRules() {
        let atoms: [[UInt8]] = [
            Array("a".utf8), Array("hello".utf8), Array(".".utf8), Array("..".utf8), [13], [10], [13, 10], [13, 13],
            Array("\r\n.\r\n".utf8), Array("\r\n..x".utf8), Array("\r\n.\n".utf8), Array("\n.\r\n".utf8),
            [UInt8](repeating: UInt8(ascii: "x"), count: 40),
        ]
        var random = Random(state: 5321)
        for round in 0..<4000 {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...30, using: &random) { stream += atoms.randomElement(using: &random)! }
            if round % 3 == 0 { stream += Array("\r\n.\r\nQUIT\r\n".utf8) }
            let maxSize = [1 << 20, 50, 7].randomElement(using: &random)!
            let maxLineLength = [1000, 30, 4].randomElement(using: &random)!
            var pieces: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let length = min(stream.count - offset, Int.random(in: 1...9, using: &random))
                pieces.append(Array(stream[offset..<offset + length]))
                offset += length
            }
            let expected = Self.reference(stream, maxSize: maxSize, maxLineLength: maxLineLength)
            let whole = Self.decoded([stream], maxSize: maxSize, maxLineLength: maxLineLength)
            let cut = Self.decoded(pieces, maxSize: maxSize, maxLineLength: maxLineLength)
            #expect(whole == expected, "round \(round): \(stream)")
            #expect(cut == expected, "round \(round) in pieces: \(stream)")
            if whole != expected || cut != expected { return }
        }
    }
}
