/// The SMTP dialogue of one outbound attempt, as an operator reads it afterwards (`postie trace`):
/// what the client sent (`C:`), what the server said (`S:`), and what happened between (`*`:
/// connecting, TLS, the message's octets), each with its milliseconds since the attempt began.
/// AUTH's secrets and the message itself are never kept. Bounded: at most `maxLines` lines and
/// `maxOctets` octets; what is beyond is counted, not kept. A value with no I/O.
public struct SessionTranscript: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        /// Milliseconds since the attempt began.
        public var milliseconds: Int
        /// `C`, `S` or `*`.
        public var direction: Character
        public var text: String
    }

    public static let maxLines = 200
    public static let maxOctets = 16 * 1024

    public private(set) var lines: [Line] = []
    /// Lines that did not fit.
    public private(set) var leftOut = 0
    private var octets = 0
    /// The last reply was 334: the next client line is a SASL response, never kept.
    private var inSASL = false

    public init() {}

    /// A command line the client sent (without CRLF).
    public mutating func client(_ line: String, at milliseconds: Int) {
        var text = line
        if inSASL {
            text = "[AUTH response elided]"
        } else if line.uppercased().hasPrefix("AUTH ") {
            // The mechanism stays; an initial response goes.
            let words = line.split(separator: " ", maxSplits: 2)
            text = words.count > 2 ? "\(words[0]) \(words[1]) [elided]" : line
        }
        append(Line(milliseconds: milliseconds, direction: "C", text: text))
    }

    /// A reply the server gave (its lines joined by the reply's own structure).
    public mutating func server(_ reply: Reply, at milliseconds: Int) {
        inSASL = reply.code == 334
        let code = String(reply.code)
        let enhanced = reply.enhancedCode.map { $0.description + " " } ?? ""
        for (i, text) in reply.lines.enumerated() {
            let separator = i == reply.lines.count - 1 ? " " : "-"
            // A 334 challenge is base64 the server chose: kept out too, like the response.
            let shown = reply.code == 334 ? "[challenge elided]" : enhanced + text
            append(Line(milliseconds: milliseconds, direction: "S", text: code + separator + shown))
        }
    }

    /// Something that happened: connected, TLS up, the message's octets sent, a timeout.
    public mutating func note(_ text: String, at milliseconds: Int) {
        append(Line(milliseconds: milliseconds, direction: "*", text: text))
    }

    private mutating func append(_ line: Line) {
        let size = line.text.utf8.count + 16
        guard lines.count < Self.maxLines, octets + size <= Self.maxOctets else {
            leftOut += 1
            return
        }
        octets += size
        lines.append(line)
    }

    /// One line each: `+12ms C: EHLO mx.example.org`; and how many were left out.
    public var rendered: [String] {
        var out = lines.map { line in
            let prefix = line.direction == "*" ? "*" : "\(line.direction):"
            return "+\(line.milliseconds)ms \(prefix) \(line.text)"
        }
        if leftOut > 0 { out.append("[\(leftOut) more lines left out]") }
        return out
    }
}
