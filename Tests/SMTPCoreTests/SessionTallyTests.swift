import NIOCore
import SMTPCore
import Testing

/// What the session counts for metrics: commands by verb, and the limits a client went past.
struct SessionTallyTests {
    func counts(_ tally: CommandTally, since earlier: CommandTally = CommandTally()) -> [String: Int] {
        var counts: [String: Int] = [:]
        tally.forEachVerb(grownSince: earlier) { counts[$0] = $1 }
        return counts
    }

    @Test func commandsAreCountedByVerbAndGarbageAsUnknown() {
        var driver = SessionDriver()
        driver.start()
        driver.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<carolyn@xyz.com>\r\nRCPT TO:<nobody@xyz.com>\r\n")
        let afterRecipients = driver.session.commandTally
        // A MAIL that does not parse is still a MAIL; a word that names no verb is `unknown`;
        // the message's lines are not commands, nor is an over-long name.
        driver.send("DATA\r\nSubject: x\r\n\r\nRSET\r\n.\r\nMAIL FROM:bad\r\nXYZZY\r\nSTARTTLSX\r\nquit\r\n")
        #expect(driver.closed)
        #expect(counts(driver.session.commandTally) == ["EHLO": 1, "MAIL": 2, "RCPT": 2, "DATA": 1, "QUIT": 1, "unknown": 2])
        #expect(counts(driver.session.commandTally, since: afterRecipients) == ["MAIL": 1, "DATA": 1, "QUIT": 1, "unknown": 2])
        #expect(driver.session.commandTally.total == 9)
        #expect(CommandTally.verbs.count == 15, "the tally's fixed storage holds every verb")
    }

    @Test func limitsReachedAreReportedOnce() {
        var driver = SessionDriver.started { $0.maxRecipients = 1; $0.maxMessageSize = 2048 }
        driver.send("EHLO c\r\nMAIL FROM:<a@b.example> SIZE=4096\r\n")
        #expect(driver.session.takeLimitsReached() == [.messageSize])
        #expect(driver.session.takeLimitsReached() == [], "taken once")
        driver.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<carolyn@xyz.com>\r\nRCPT TO:<bob@xyz.com>\r\n")
        driver.send("NOOP " + String(repeating: "x", count: 600) + "\r\n")
        driver.send("DATA\r\n" + String(repeating: "y", count: 3000) + "\r\n.\r\n")
        #expect(driver.replies.last?.hasPrefix("552 5.3.4") == true, "\(driver.replies)")
        #expect(driver.session.takeLimitsReached() == [.recipients, .lineLength, .messageSize])
        #expect(driver.messages.isEmpty)
    }

    @Test func tooManyErrorsAndCommandsAreLimitsToo() {
        var driver = SessionDriver.started { $0.maxErrors = 3 }
        driver.send("EHLO c\r\nXYZZY\r\nXYZZY\r\nXYZZY\r\n")
        #expect(driver.closed)
        #expect(driver.session.takeLimitsReached() == [.errors])

        driver = SessionDriver.started { $0.maxMessagesPerConnection = 1 }
        driver.send("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<carolyn@xyz.com>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@b.example>\r\n")
        #expect(driver.session.takeLimitsReached() == [.messages])
        #expect(driver.closed, "421 ends the connection")

        driver = SessionDriver.started { $0.maxCommandsPerConnection = 10 }
        driver.send(String(repeating: "NOOP\r\n", count: 11))
        #expect(driver.session.takeLimitsReached() == [.commands])
    }
}
