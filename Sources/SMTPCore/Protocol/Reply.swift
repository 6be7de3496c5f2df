import NIOCore

/// An SMTP reply as a value (RFC 5321 §4.2): a three-digit code, an optional enhanced status code
/// (RFC 3463) and one or more lines of text. Encoded as a multi-line reply when it has more than
/// one line.
public struct Reply: Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    public var enhancedCode: EnhancedStatusCode?
    public var lines: [String]

    public init(_ code: Int, _ enhancedCode: EnhancedStatusCode? = nil, _ text: String) {
        self.init(code, enhancedCode, lines: [text])
    }

    public init(_ code: Int, _ enhancedCode: EnhancedStatusCode? = nil, lines: [String]) {
        precondition((200...599).contains(code), "reply codes are 2xx to 5xx")
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// 2xx and 3xx.
    public var isPositive: Bool { code < 400 }
    /// 4xx: try again later.
    public var isTransient: Bool { (400..<500).contains(code) }
    /// 5xx: do not try again.
    public var isPermanent: Bool { code >= 500 }

    /// The first line of text, for logs.
    public var text: String { lines.joined(separator: " ") }

    public var description: String {
        if let enhancedCode { return "\(code) \(enhancedCode) \(text)" }
        return "\(code) \(text)"
    }

    /// Writes the reply in wire form. Line breaks inside a line are replaced by spaces so that a
    /// reply can never be split into two by text that came from elsewhere.
    public func encode(into buffer: inout ByteBuffer) {
        for (index, line) in lines.enumerated() {
            buffer.writeString(String(code))
            buffer.writeInteger(index == lines.count - 1 ? UInt8(ascii: " ") : UInt8(ascii: "-"))
            if let enhancedCode {
                buffer.writeString(enhancedCode.description)
                if !line.isEmpty { buffer.writeInteger(UInt8(ascii: " ")) }
            }
            for byte in line.utf8 {
                buffer.writeInteger(byte == 13 || byte == 10 ? UInt8(ascii: " ") : byte)
            }
            buffer.writeStaticString("\r\n")
        }
    }

    /// The reply in wire form, as a string (for tests and transcripts).
    public var wireText: String {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return String(buffer: buffer)
    }
}

extension Reply {
    public static let ok = Reply(250, .init(2, 0, 0), "Ok")
    public static let startMailInput = Reply(354, nil, "End data with <CR><LF>.<CR><LF>")
    public static let syntaxError = Reply(500, .init(5, 5, 2), "Error: command not recognized")
    public static let lineTooLong = Reply(500, .init(5, 5, 2), "Error: line too long")
    public static let badSequenceNeedHELO = Reply(503, .init(5, 5, 1), "Error: send HELO/EHLO first")
    public static let badSequenceNestedMAIL = Reply(503, .init(5, 5, 1), "Error: nested MAIL command")
    public static let badSequenceNeedMAIL = Reply(503, .init(5, 5, 1), "Error: need MAIL command")
    public static let badSequenceNeedRCPT = Reply(503, .init(5, 5, 1), "Error: need RCPT command")
    public static let tooManyRecipients = Reply(452, .init(4, 5, 3), "Error: too many recipients")
    public static let tooManyErrors = Reply(421, .init(4, 7, 0), "Error: too many errors, closing connection")
    public static let timeout = Reply(421, .init(4, 4, 2), "Error: timeout exceeded, closing connection")
    public static let notHTTP = Reply(554, .init(5, 7, 0), "This is an SMTP server, not an HTTP server; closing connection")
    public static let vrfy = Reply(252, .init(2, 5, 2), "Cannot VRFY user, but will accept message and attempt delivery")
    public static let expnDisabled = Reply(502, .init(5, 5, 1), "Error: EXPN is not supported")
    public static let messageTooBig = Reply(552, .init(5, 3, 4), "Error: message exceeds fixed maximum message size")
    public static let lineTooLongInData = Reply(552, .init(5, 3, 4), "Error: message has a line longer than 998 octets")
    public static let bareLineEnding = Reply(550, .init(5, 6, 0), "Error: bare CR or LF in message data; lines must end with CRLF")
    public static let nonASCIIAddressWithoutSMTPUTF8 = Reply(553, .init(5, 6, 7), "Error: non-ASCII address requires SMTPUTF8")
    public static let eightBitWithoutSMTPUTF8 = Reply(500, .init(5, 5, 2), "Error: 8-bit characters in command require SMTPUTF8")
}
