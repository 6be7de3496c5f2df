import SMTPCore
import Testing

@Suite struct CommandParserTests {
    let parser = CommandParser()

    func parse(_ line: String) -> Result<Command, CommandParseError> {
        parser.parse(Array(line.utf8))
    }

    @Test(arguments: [
        ("HELO abcd.com", Command.helo("abcd.com")),
        ("helo abcd.com", .helo("abcd.com")),
        ("EHLO [192.0.2.1]", .ehlo("[192.0.2.1]")),
        ("MAIL FROM:<elinor@abcd.com>", .mail(.mailbox(Mailbox(localPart: "elinor", domain: "abcd.com")), [])),
        ("mail from:<>", .mail(.null, [])),
        ("MAIL FROM: <a@b.c>", .mail(.mailbox(Mailbox(localPart: "a", domain: "b.c")), [])),
        ("MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME", .mail(.mailbox(Mailbox(localPart: "a", domain: "b.c")), [.init("SIZE", "100"), .init("BODY", "8BITMIME")])),
        ("MAIL FROM:<a@b.c> smtputf8", .mail(.mailbox(Mailbox(localPart: "a", domain: "b.c")), [.init("SMTPUTF8")])),
        ("RCPT TO:<carolyn@xyz.com>", .rcpt(.mailbox(Mailbox(localPart: "carolyn", domain: "xyz.com")), [])),
        // Without angle brackets, as Postfix and chasquid take them.
        ("MAIL FROM:a@b.c", .mail(.mailbox(Mailbox(localPart: "a", domain: "b.c")), [])),
        ("MAIL FROM: a@b.c SIZE=100", .mail(.mailbox(Mailbox(localPart: "a", domain: "b.c")), [.init("SIZE", "100")])),
        ("RCPT TO: user@example.com", .rcpt(.mailbox(Mailbox(localPart: "user", domain: "example.com")), [])),
        ("RCPT TO:Postmaster NOTIFY=NEVER", .rcpt(.postmaster, [.init("NOTIFY", "NEVER")])),
        ("RCPT TO:<Postmaster>", .rcpt(.postmaster, [])),
        ("RCPT TO:<postmaster>", .rcpt(.postmaster, [])),
        ("RCPT TO:<\"john doe\"@example.com>", .rcpt(.mailbox(Mailbox(localPart: "john doe", domain: "example.com")), [])),
        ("RCPT TO:<\"a\\\"b\"@example.com>", .rcpt(.mailbox(Mailbox(localPart: "a\"b", domain: "example.com")), [])),
        ("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>", .rcpt(.mailbox(Mailbox(localPart: "userc", domain: "d.bar.org")), [])),
        ("RCPT TO:<user@[192.0.2.1]>", .rcpt(.mailbox(Mailbox(localPart: "user", domain: "[192.0.2.1]")), [])),
        ("RCPT TO:<user@[IPv6:2001:db8::1]>", .rcpt(.mailbox(Mailbox(localPart: "user", domain: "[IPv6:2001:db8::1]")), [])),
        ("RCPT TO:<user@[IPv6:::ffff:192.0.2.1]>", .rcpt(.mailbox(Mailbox(localPart: "user", domain: "[IPv6:::ffff:192.0.2.1]")), [])),
        ("RCPT TO:<a.b+tag@x.org>", .rcpt(.mailbox(Mailbox(localPart: "a.b+tag", domain: "x.org")), [])),
        ("RCPT TO:<用户@例子.广告>", .rcpt(.mailbox(Mailbox(localPart: "用户", domain: "例子.广告")), [])),
        ("DATA", .data),
        ("data", .data),
        ("BDAT 1000", .bdat(size: 1000, last: false)),
        ("BDAT 0 LAST", .bdat(size: 0, last: true)),
        ("bdat 12 last", .bdat(size: 12, last: true)),
        ("RSET", .rset),
        ("NOOP", .noop),
        ("NOOP anything", .noop),
        ("QUIT", .quit),
        ("VRFY alice", .vrfy("alice")),
        ("EXPN list", .expn("list")),
        ("HELP", .help(nil)),
        ("HELP MAIL", .help("MAIL")),
        ("STARTTLS", .starttls(parameter: nil)),
        ("STARTTLS x", .starttls(parameter: "x")),
        ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==")),
        ("auth login", .auth(mechanism: "LOGIN", initialResponse: nil)),
    ])
    func validCommands(line: String, expected: Command) throws {
        #expect(try parse(line).get() == expected)
    }

    @Test(arguments: [
        ("FOO", 500, "5.5.2"),
        ("", 500, "5.5.2"),
        ("HELO", 501, "5.5.4"),
        ("EHLO ", 501, "5.5.4"),
        ("MAIL", 501, "5.5.4"),
        ("MAIL TO:<a@b>", 501, "5.5.4"),
        ("MAIL FROM:a@", 501, "5.1.7"),
        ("RCPT TO: user", 501, "5.1.3"),
        ("RCPT TO: ", 501, "5.1.3"),
        ("MAIL FROM:<a@b.c", 501, "5.1.7"),
        ("MAIL FROM:<a@>", 501, "5.1.7"),
        ("MAIL FROM:<@b.c>", 501, "5.1.7"),
        ("MAIL FROM:<a..b@c.d>", 501, "5.1.7"),
        ("MAIL FROM:<.a@c.d>", 501, "5.1.7"),
        ("MAIL FROM:<a@-b.c>", 501, "5.1.7"),
        ("MAIL FROM:<a@b..c>", 501, "5.1.7"),
        ("MAIL FROM:<a b@c.d>", 501, "5.1.7"),
        ("MAIL FROM:<a@b.c>SIZE=1", 501, "5.5.4"),
        ("MAIL FROM:<a@b.c> =1", 501, "5.5.4"),
        ("RCPT TO:<a@[300.1.1.1]>", 501, "5.1.3"),
        ("RCPT TO:<a@[IPv6:1::2::3]>", 501, "5.1.3"),
        ("RCPT TO:<\"unterminated@x.y>", 501, "5.1.3"),
        ("RCPT TO:<@bad_route:a@b.c>", 501, "5.1.3"),
        ("RCPT TO:<a@b.c", 501, "5.1.3"),
        ("DATA now", 501, "5.5.4"),
        ("BDAT", 501, "5.5.4"),
        ("BDAT x", 501, "5.5.4"),
        ("BDAT 10 FIRST", 501, "5.5.4"),
        ("BDAT -1", 501, "5.5.4"),
        ("QUIT now", 501, "5.5.4"),
        ("VRFY", 501, "5.5.4"),
        ("HELO h\u{0}x", 500, "5.5.2"),
        ("HELO héllo", 500, "5.5.2"),
    ])
    func invalidCommands(line: String, code: Int, enhanced: String) {
        guard case .failure(let error) = parse(line) else {
            Issue.record("\(line) parsed")
            return
        }
        #expect(error.reply.code == code)
        #expect(error.reply.enhancedCode?.description == enhanced)
        #expect(!error.closesConnection)
    }

    @Test(arguments: ["MAIL FROM:a@b.c", "MAIL FROM: a@b.c", "RCPT TO: user@example.com", "RCPT TO:postmaster"])
    func theStrictSwitchWantsAngleBrackets(line: String) {
        guard case .failure(let error) = CommandParser(strictPaths: true).parse(Array(line.utf8)) else {
            Issue.record("\(line) parsed")
            return
        }
        #expect(error.reply.code == 501)
        #expect(error.reply.text.contains("must be in <>") || error.reply.text.contains("Syntax"), "\(error.reply)")
    }

    @Test func localPartOver64OctetsIsRefused() throws {
        let local = String(repeating: "a", count: 65)
        guard case .failure(let error) = parse("RCPT TO:<\(local)@x.org>") else {
            Issue.record("accepted")
            return
        }
        #expect(error.reply.code == 501)
        #expect(try parse("RCPT TO:<\(String(repeating: "a", count: 64))@x.org>").get() != .data)
    }

    @Test func domainOver255OctetsIsRefused() {
        let label = String(repeating: "a", count: 60)
        let domain = Array(repeating: label, count: 5).joined(separator: ".")  // 304 octets
        guard case .failure(let error) = parse("MAIL FROM:<a@\(domain)>") else {
            Issue.record("accepted")
            return
        }
        #expect(error.reply.code == 501)
    }

    @Test(arguments: ["GET / HTTP/1.1", "POST /x HTTP/1.0", "get /", "HEAD / HTTP/1.1", "CONNECT x:25 HTTP/1.1"])
    func httpRequestsCloseTheConnection(line: String) {
        guard case .failure(let error) = parse(line) else {
            Issue.record("accepted")
            return
        }
        #expect(error.closesConnection)
    }

    @Test func mailboxParseRoundTrips() {
        let m = Mailbox(localPart: "john doe", domain: "example.com")
        #expect(m.description == "\"john doe\"@example.com")
        #expect(Mailbox.parse(m.description) == m)
        #expect(ReversePath.parse("<>") == .null)
        #expect(ReversePath.parse("<a@b.c>") == .mailbox(Mailbox(localPart: "a", domain: "b.c")))
        #expect(Mailbox.parse("not an address") == nil)
    }
}

@Suite struct MisleadingAddressTests {
    /// Addresses that would carry a line separator or a direction override into Return-Path:,
    /// the log and the reader's screen are refused; joiners, which some scripts need, are not.
    @Test(arguments: ["a\u{2028}b@x.org", "a@x\u{202E}gro.org", "\u{202E}moc@x.org", "a\u{85}b@x.org", "a\u{2066}b@x.org"])
    func refused(address: String) {
        guard case .failure(let error) = CommandParser().parse(Array("MAIL FROM:<\(address)> SMTPUTF8".utf8)) else {
            Issue.record("\(address.debugDescription) accepted")
            return
        }
        #expect(error.reply.code == 501)
    }

    @Test func joinersStay() throws {
        let parsed = try CommandParser().parse(Array("MAIL FROM:<می\u{200C}خواهم@example.ir> SMTPUTF8".utf8)).get()
        #expect(parsed != .data)
    }
}
