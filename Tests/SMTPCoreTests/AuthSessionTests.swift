import ExtrasBase64
import NIOCore
import SMTPCore
import Testing

/// AUTH PLAIN and LOGIN in the server session (RFC 4954), without sockets.
@Suite struct AuthSessionTests {
    static func b64(_ text: String) -> String { Base64.encodeToString(bytes: Array(text.utf8)) }
    static let plainAlice = b64("\0alice@xyz.com\0secret")

    /// A session that is already encrypted and greeted with EHLO.
    static func driver(submission: Bool = false, tls: Bool = true, auth: [String] = ["PLAIN", "LOGIN"]) -> SessionDriver {
        var driver = SessionDriver(
            configuration: ServerSessionConfiguration(
                hostname: "mx.test", extensions: .init(startTLS: true, auth: auth, dsn: true), requiresAuthentication: submission,
                implicitTLS: tls))
        driver.start()
        driver.send("EHLO client.example\r\n")
        _ = driver.takeReplies()
        return driver
    }

    @Test func ehloOffersAuthOnlyOverTLS() {
        var plain = Self.driver(tls: false)
        plain.send("EHLO again\r\n")
        #expect(!plain.takeReplies().contains { $0.contains("AUTH") })
        var tls = Self.driver()
        tls.send("EHLO again\r\n")
        #expect(tls.takeReplies().contains("250-AUTH PLAIN LOGIN"))
        var none = Self.driver(auth: [])
        none.send("EHLO again\r\n")
        #expect(!none.takeReplies().contains { $0.contains("AUTH") })
    }

    @Test func plainWithInitialResponse() {
        var d = Self.driver()
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["235 2.7.0 Authentication successful"])
        #expect(d.session.authenticatedUser == "alice@xyz.com")
        #expect(d.authentications.map(\.user) == ["alice@xyz.com"])
    }

    @Test func plainWithEmptyChallenge() {
        var d = Self.driver()
        d.send("AUTH PLAIN\r\n")
        #expect(d.takeReplies() == ["334 "])
        d.send("\(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["235 2.7.0 Authentication successful"])
    }

    @Test func loginExchange() {
        var d = Self.driver()
        d.send("AUTH LOGIN\r\n")
        #expect(d.takeReplies() == ["334 VXNlcm5hbWU6"])
        d.send("\(Self.b64("alice@xyz.com"))\r\n")
        #expect(d.takeReplies() == ["334 UGFzc3dvcmQ6"])
        d.send("\(Self.b64("secret"))\r\n")
        #expect(d.takeReplies() == ["235 2.7.0 Authentication successful"])
        // LOGIN with the user name as initial response.
        var e = Self.driver()
        e.send("auth login \(Self.b64("alice@xyz.com"))\r\n")
        #expect(e.takeReplies() == ["334 UGFzc3dvcmQ6"])
        e.send("\(Self.b64("secret"))\r\n")
        #expect(e.takeReplies() == ["235 2.7.0 Authentication successful"])
    }

    @Test func rfc4954Replies() {
        var d = Self.driver()
        d.send("AUTH PLAIN \(Self.b64("\0alice@xyz.com\0wrong"))\r\n")
        #expect(d.takeReplies() == ["535 5.7.8 Error: authentication failed"])
        #expect(d.session.authenticatedUser == nil)
        d.send("AUTH CRAM-MD5\r\n")
        #expect(d.takeReplies() == ["504 5.5.4 Error: authentication mechanism not supported"])
        d.send("AUTH PLAIN not*base64!\r\n")
        #expect(d.takeReplies() == ["501 5.5.2 Error: cannot decode the response (not base64)"])
        d.send("AUTH LOGIN\r\n*\r\n")
        #expect(d.takeReplies() == ["334 VXNlcm5hbWU6", "501 5.7.0 Authentication cancelled"])
        d.send("AUTH PLAIN\r\n*\r\n")
        #expect(d.takeReplies() == ["334 ", "501 5.7.0 Authentication cancelled"])
        // PLAIN without its NUL separators.
        d.send("AUTH PLAIN \(Self.b64("alice@xyz.com secret"))\r\n")
        #expect(d.takeReplies() == ["501 5.5.2 Error: malformed authentication response"])
        // After all that, the real thing still works; then a second AUTH is 503.
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["235 2.7.0 Authentication successful"])
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["503 5.5.1 Error: already authenticated"])
    }

    @Test func authDuringATransactionIs503() {
        var d = Self.driver()
        d.send("MAIL FROM:<x@abcd.com>\r\n")
        _ = d.takeReplies()
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["503 5.5.1 Error: AUTH not permitted during a mail transaction"])
        #expect(d.authentications.isEmpty)
    }

    @Test func authWithoutTLSIsRefusedAndNothingIsChecked() {
        var d = Self.driver(tls: false)
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["538 5.7.11 Encryption required for requested authentication mechanism"])
        #expect(d.authentications.isEmpty)
        var none = Self.driver(auth: [])
        none.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(none.takeReplies() == ["502 5.5.1 Error: authentication not enabled"])
    }

    @Test func authBeforeEHLOIs503() {
        var d = SessionDriver(
            configuration: ServerSessionConfiguration(hostname: "mx.test", extensions: .init(auth: ["PLAIN"]), implicitTLS: true))
        d.start()
        _ = d.takeReplies()
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        #expect(d.takeReplies() == ["503 5.5.1 Error: send EHLO first"])
    }

    @Test func pipelinedCommandsWaitForTheVerdict() {
        // The verdict comes later: nothing after AUTH is handled before it.
        var session = ServerSession(
            configuration: ServerSessionConfiguration(
                hostname: "mx.test", extensions: .init(auth: ["PLAIN"]), requiresAuthentication: true, implicitTLS: true))
        _ = session.start()
        _ = session.receive(ByteBuffer(string: "EHLO c\r\n"))
        let actions = session.receive(ByteBuffer(string: "AUTH PLAIN \(Self.plainAlice)\r\nMAIL FROM:<alice@xyz.com>\r\n"))
        #expect(actions.count == 1)
        guard case .authenticate(let credentials) = actions.first else {
            Issue.record("expected .authenticate, got \(actions)")
            return
        }
        #expect(credentials.user == "alice@xyz.com")
        #expect(credentials.password == Array("secret".utf8))
        #expect(!credentials.description.contains("secret"))
        #expect(session.holdsInput)
        let after = session.authenticationChecked(SessionDriver.verdict(credentials))
        #expect(after == [.send(Reply(235, .init(2, 7, 0), "Authentication successful")), .send(Reply(250, .init(2, 1, 0), "Ok"))])
    }

    @Test func submissionNeedsAuthBeforeMail() {
        var d = Self.driver(submission: true)
        d.send("MAIL FROM:<alice@xyz.com>\r\n")
        #expect(d.takeReplies() == ["530 5.7.0 Error: authentication required"])
        d.send("AUTH PLAIN \(Self.plainAlice)\r\nMAIL FROM:<alice@xyz.com>\r\n")
        #expect(d.takeReplies() == ["235 2.7.0 Authentication successful", "250 2.1.0 Ok"])
    }

    @Test func sendersMustBeOwned() {
        var d = Self.driver(submission: true)
        d.send("AUTH PLAIN \(Self.plainAlice)\r\n")
        _ = d.takeReplies()
        for allowed in ["<alice@xyz.com>", "<ALICE@XYZ.COM>", "<alice+lists@xyz.com>", "<anyone@abcd.com>", "<>"] {
            d.send("MAIL FROM:\(allowed)\r\n")
            #expect(d.takeReplies() == ["250 2.1.0 Ok"], "\(allowed)")
            d.send("RSET\r\n")
            _ = d.takeReplies()
        }
        for refused in ["<bob@xyz.com>", "<alice@xyz.com.evil.example>", "<+alice@xyz.com>"] {
            d.send("MAIL FROM:\(refused)\r\n")
            #expect(d.takeReplies() == ["553 5.7.1 \(refused): Sender address rejected: not owned by user alice@xyz.com"], "\(refused)")
        }
    }

    @Test func tooLongResponseLine() {
        var d = Self.driver()
        d.send("AUTH PLAIN\r\n" + String(repeating: "A", count: 13_000) + "\r\nNOOP\r\n")
        #expect(d.takeReplies() == ["334 ", "500 5.5.6 Authentication Exchange line is too long", "250 2.0.0 Ok"])
    }

    @Test func saslExchangeRejectsNULInNamesAndPasswords() {
        #expect(SASLExchange.start(mechanism: "PLAIN", initialResponse: Self.b64("\0al\0ice\0pw"))?.1 == .failure(SASLExchange.malformed))
        var (login, _) = SASLExchange.start(mechanism: "LOGIN", initialResponse: nil)!
        #expect(login.respond(Array(Self.b64("a\0b").utf8)) == .failure(SASLExchange.malformed))
        #expect(SASLExchange.start(mechanism: "PLAIN", initialResponse: "=")?.1 == .failure(SASLExchange.malformed))
    }
}
