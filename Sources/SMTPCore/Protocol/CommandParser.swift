/// Why a command line could not be parsed: the reply to send, and whether the connection should
/// be closed after it (an HTTP request sent to the SMTP port).
public struct CommandParseError: Error, Hashable, Sendable {
    public var reply: Reply
    public var closesConnection: Bool

    public init(_ reply: Reply, closesConnection: Bool = false) {
        self.reply = reply
        self.closesConnection = closesConnection
    }
}

/// Parses one command line (without its CRLF) per RFC 5321 §4.1. Written by hand: the grammar
/// is small, and every byte of it faces the internet.
public struct CommandParser: Sendable {
    public var limits: SMTPLimits
    /// Only `<address>` in MAIL and RCPT, as RFC 5321 writes it. Off by default: many clients
    /// send `RCPT TO: user@example.com`, and Postfix and chasquid take it.
    public var strictPaths: Bool

    public init(limits: SMTPLimits = SMTPLimits(), strictPaths: Bool = false) {
        self.limits = limits
        self.strictPaths = strictPaths
    }

    static let httpVerbs: Set<String> = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE"]

    public func parse(_ line: some Collection<UInt8>) -> Result<Command, CommandParseError> {
        let bytes = Array(line)
        if bytes.contains(0) {
            return .failure(.init(.Syntax.nulInCommand))
        }
        if bytes.contains(where: { $0 == 13 || $0 == 10 }) {
            return .failure(.init(.Syntax.bareLineEnding))
        }
        let verbEnd = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.endIndex
        let verb = String(decoding: bytes[..<verbEnd], as: UTF8.self).uppercased()
        var argStart = verbEnd
        if argStart < bytes.endIndex { argStart += 1 }
        let args = bytes[argStart...]

        if Self.httpVerbs.contains(verb) || verb.hasPrefix("HOST:") {
            return .failure(.init(.notHTTP, closesConnection: true))
        }
        // Only MAIL and RCPT may carry UTF-8 (RFC 6531); elsewhere 8-bit octets are a syntax error.
        if verb != "MAIL" && verb != "RCPT" && args.contains(where: { $0 >= 0x80 }) {
            return .failure(.init(.eightBitWithoutSMTPUTF8))
        }
        switch verb {
        case "HELO", "EHLO":
            let name = trimmed(args)
            guard !name.isEmpty, !name.contains(UInt8(ascii: " ")), name.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                return .failure(.init(.Syntax.usage("\(verb) hostname")))
            }
            let text = String(decoding: name, as: UTF8.self)
            return .success(verb == "HELO" ? .helo(text) : .ehlo(text))
        case "MAIL":
            return parseMail(args)
        case "RCPT":
            return parseRcpt(args)
        case "DATA", "RSET", "QUIT":
            guard trimmed(args).isEmpty else {
                return .failure(.init(.Syntax.usage("\(verb) takes no parameters")))
            }
            return .success(verb == "DATA" ? .data : verb == "RSET" ? .rset : .quit)
        case "NOOP":
            return .success(.noop)
        case "BDAT":
            let parts = trimmed(args).split(separator: UInt8(ascii: " "))
            guard (1...2).contains(parts.count), parts[0].count <= 18,
                parts[0].allSatisfy({ (48...57).contains($0) }), let size = Int(String(decoding: parts[0], as: UTF8.self))
            else {
                return .failure(.init(.Syntax.usage("BDAT chunk-size [LAST]")))
            }
            if parts.count == 2 {
                guard String(decoding: parts[1], as: UTF8.self).uppercased() == "LAST" else {
                    return .failure(.init(.Syntax.usage("BDAT chunk-size [LAST]")))
                }
            }
            return .success(.bdat(size: size, last: parts.count == 2))
        case "VRFY", "EXPN":
            let arg = trimmed(args)
            guard !arg.isEmpty else {
                return .failure(.init(.Syntax.usage("\(verb) address")))
            }
            let text = String(decoding: arg, as: UTF8.self)
            return .success(verb == "VRFY" ? .vrfy(text) : .expn(text))
        case "HELP":
            let arg = trimmed(args)
            return .success(.help(arg.isEmpty ? nil : String(decoding: arg, as: UTF8.self)))
        case "STARTTLS":
            let arg = trimmed(args)
            return .success(.starttls(parameter: arg.isEmpty ? nil : String(decoding: arg, as: UTF8.self)))
        case "AUTH":
            let parts = trimmed(args).split(separator: UInt8(ascii: " "))
            guard (1...2).contains(parts.count) else {
                return .failure(.init(.Syntax.usage("AUTH mechanism [initial-response]")))
            }
            return .success(
                .auth(
                    mechanism: String(decoding: parts[0], as: UTF8.self).uppercased(),
                    initialResponse: parts.count == 2 ? String(decoding: parts[1], as: UTF8.self) : nil))
        default:
            return .failure(.init(.syntaxError))
        }
    }

    private func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while s.first == UInt8(ascii: " ") || s.first == 9 { s = s.dropFirst() }
        while s.last == UInt8(ascii: " ") || s.last == 9 { s = s.dropLast() }
        return s
    }

    /// Matches a case-insensitive keyword such as `FROM:` and returns what follows, leading
    /// spaces skipped (many clients send `MAIL FROM: <a@b>`).
    private func afterKeyword(_ keyword: String, in args: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let k = Array(keyword.utf8)
        guard args.count >= k.count else { return nil }
        for (a, b) in zip(args.prefix(k.count), k) where a | 0x20 != b | 0x20 { return nil }
        var rest = args.dropFirst(k.count)
        while rest.first == UInt8(ascii: " ") { rest = rest.dropFirst() }
        return rest
    }

    private func parseMail(_ args: ArraySlice<UInt8>) -> Result<Command, CommandParseError> {
        let syntax = CommandParseError(.Syntax.usage("MAIL FROM:<address> [parameters]"))
        guard let rest = afterKeyword("FROM:", in: args) else { return .failure(syntax) }
        let bad = { (why: String) in CommandParseError(.Syntax.badSender(why)) }
        do {
            var cursor = rest.startIndex
            let path: ReversePath
            if rest.starts(with: Array("<>".utf8)) {
                path = .null
                cursor += 2
            } else {
                let (mailbox, end) = try parsePathOrBareAddress(rest)
                path = .mailbox(mailbox)
                cursor = end
            }
            let params = try parseParameters(rest[cursor...])
            return .success(.mail(path, params))
        } catch let error as PathError {
            return .failure(bad(error.reason))
        } catch {
            return .failure(error as? CommandParseError ?? syntax)
        }
    }

    private func parseRcpt(_ args: ArraySlice<UInt8>) -> Result<Command, CommandParseError> {
        let syntax = CommandParseError(.Syntax.usage("RCPT TO:<address> [parameters]"))
        guard let rest = afterKeyword("TO:", in: args) else { return .failure(syntax) }
        let bad = { (why: String) in CommandParseError(.Syntax.badRecipient(why)) }
        do {
            var cursor = rest.startIndex
            let path: ForwardPath
            if let close = rest.firstIndex(of: UInt8(ascii: ">")), rest.first == UInt8(ascii: "<"),
                String(decoding: rest[(rest.startIndex + 1)..<close], as: UTF8.self).lowercased() == "postmaster"
            {
                path = .postmaster
                cursor = close + 1
            } else if !strictPaths, rest.first != UInt8(ascii: "<"),
                String(decoding: rest.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self).lowercased() == "postmaster"
            {
                path = .postmaster
                cursor = rest.startIndex + "postmaster".utf8.count
            } else {
                let (mailbox, end) = try parsePathOrBareAddress(rest)
                path = .mailbox(mailbox)
                cursor = end
            }
            let params = try parseParameters(rest[cursor...])
            return .success(.rcpt(path, params))
        } catch let error as PathError {
            return .failure(bad(error.reason))
        } catch {
            return .failure(error as? CommandParseError ?? syntax)
        }
    }

    struct PathError: Error { var reason: String }

    /// A path in angle brackets, or (unless `strictPaths`) a bare address running to the next
    /// space, read with the same grammar as if it had its brackets.
    func parsePathOrBareAddress(_ bytes: ArraySlice<UInt8>) throws -> (Mailbox, ArraySlice<UInt8>.Index) {
        if strictPaths || bytes.first == UInt8(ascii: "<") { return try parsePath(bytes) }
        let end = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.endIndex
        guard end > bytes.startIndex else { throw PathError(reason: "address must be in <>") }
        let wrapped = [UInt8(ascii: "<")] + bytes[..<end] + [UInt8(ascii: ">")]
        let (mailbox, _) = try parsePath(wrapped[...])
        return (mailbox, end)
    }

    /// `Path = "<" [ A-d-l ":" ] Mailbox ">"`; returns the mailbox and the index after `>`.
    /// A source route is checked and then ignored (RFC 5321 §4.1.1.3, Appendix C).
    func parsePath(_ bytes: ArraySlice<UInt8>) throws -> (Mailbox, ArraySlice<UInt8>.Index) {
        guard bytes.first == UInt8(ascii: "<") else { throw PathError(reason: "address must be in <>") }
        var i = bytes.startIndex + 1
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: "@") {
            // A-d-l: "@" Domain *( "," "@" Domain ) ":"
            guard let colon = bytes[i...].firstIndex(of: UInt8(ascii: ":")) else {
                throw PathError(reason: "bad source route")
            }
            for hop in bytes[i..<colon].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                guard hop.first == UInt8(ascii: "@"), AddressGrammar.isDomain(hop.dropFirst()) else {
                    throw PathError(reason: "bad source route")
                }
            }
            i = colon + 1
        }
        // Local-part
        var local: [UInt8] = []
        if i < bytes.endIndex, bytes[i] == UInt8(ascii: "\"") {
            i += 1
            var closed = false
            while i < bytes.endIndex {
                let b = bytes[i]
                if b == UInt8(ascii: "\\") {
                    guard i + 1 < bytes.endIndex, (32...126).contains(bytes[i + 1]) || bytes[i + 1] >= 0x80 else {
                        throw PathError(reason: "bad quoted pair")
                    }
                    local.append(bytes[i + 1])
                    i += 2
                    continue
                }
                if b == UInt8(ascii: "\"") {
                    closed = true
                    i += 1
                    break
                }
                guard (32...126).contains(b) || b >= 0x80 else { throw PathError(reason: "bad character in quoted string") }
                local.append(b)
                i += 1
            }
            guard closed else { throw PathError(reason: "unterminated quoted string") }
        } else {
            let start = i
            while i < bytes.endIndex, AddressGrammar.isAtext(bytes[i]) || bytes[i] == UInt8(ascii: ".") { i += 1 }
            local = Array(bytes[start..<i])
            guard AddressGrammar.isDotString(local) else { throw PathError(reason: "bad local part") }
        }
        guard local.count <= limits.maxLocalPartLength else {
            throw PathError(reason: "local part longer than \(limits.maxLocalPartLength) octets")
        }
        guard i < bytes.endIndex, bytes[i] == UInt8(ascii: "@") else { throw PathError(reason: "missing @domain") }
        i += 1
        guard let close = bytes[i...].firstIndex(of: UInt8(ascii: ">")) else { throw PathError(reason: "missing >") }
        let domain = bytes[i..<close]
        guard domain.count <= limits.maxDomainLength else {
            throw PathError(reason: "domain longer than \(limits.maxDomainLength) octets")
        }
        if domain.first == UInt8(ascii: "[") {
            guard domain.last == UInt8(ascii: "]"), AddressGrammar.isAddressLiteralBody(domain.dropFirst().dropLast()) else {
                throw PathError(reason: "bad address literal")
            }
        } else {
            guard AddressGrammar.isDomain(domain) else { throw PathError(reason: "bad domain") }
        }
        guard let localText = String(validating: local, as: UTF8.self),
            let domainText = String(validating: domain, as: UTF8.self)
        else { throw PathError(reason: "invalid UTF-8") }
        // They would reach Return-Path:, the log and the user's screen as they are.
        guard !localText.unicodeScalars.contains(where: AddressGrammar.isMisleading),
            !domainText.unicodeScalars.contains(where: AddressGrammar.isMisleading)
        else { throw PathError(reason: "control or direction-changing character in the address") }
        return (Mailbox(localPart: localText, domain: domainText), close + 1)
    }

    /// `Mail-parameters = esmtp-param *(SP esmtp-param)`.
    func parseParameters(_ bytes: ArraySlice<UInt8>) throws -> [ESMTPParameter] {
        guard !bytes.isEmpty else { return [] }
        guard bytes.first == UInt8(ascii: " ") else {
            throw CommandParseError(.Syntax.usage("garbage after address"))
        }
        var result: [ESMTPParameter] = []
        for token in bytes.split(separator: UInt8(ascii: " ")) {
            let eq = token.firstIndex(of: UInt8(ascii: "="))
            let keyword = token[..<(eq ?? token.endIndex)]
            guard let first = keyword.first, AddressGrammar.isLetDig(first), first < 0x80,
                keyword.allSatisfy({ $0 < 0x80 && (AddressGrammar.isLetDig($0) || $0 == UInt8(ascii: "-")) })
            else {
                throw CommandParseError(.Syntax.usage("bad parameter keyword"))
            }
            var value: String?
            if let eq {
                let raw = token[(eq + 1)...]
                guard !raw.isEmpty, raw.allSatisfy({ ($0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=")) || $0 >= 0x80 }),
                    let text = String(validating: raw, as: UTF8.self)
                else {
                    throw CommandParseError(.Syntax.usage("bad parameter value"))
                }
                value = text
            }
            result.append(ESMTPParameter(String(decoding: keyword, as: UTF8.self), value))
        }
        return result
    }
}

extension Mailbox {
    /// Parses `local@domain` (without angle brackets) by the same grammar as MAIL and RCPT.
    public static func parse(_ text: String, limits: SMTPLimits = SMTPLimits()) -> Mailbox? {
        let bytes = Array("<\(text)>".utf8)
        guard let (mailbox, end) = try? CommandParser(limits: limits).parsePath(bytes[...]), end == bytes.endIndex else {
            return nil
        }
        return mailbox
    }
}

extension ReversePath {
    /// Parses `<>` or `<local@domain>`.
    public static func parse(_ text: String) -> ReversePath? {
        if text == "<>" { return .null }
        guard text.hasPrefix("<"), text.hasSuffix(">") else { return nil }
        return Mailbox.parse(String(text.dropFirst().dropLast())).map { .mailbox($0) }
    }
}
