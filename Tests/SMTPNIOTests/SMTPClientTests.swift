import Logging
import NIOCore
import NIOPosix
import SMTPCore
import SMTPNIO
import TestSupport
import Testing

@Suite(.serialized) struct SMTPClientTests {
    static let message = "Subject: relayed\r\n\r\n.leading dot\r\nbody\r\n"

    static func outgoing(_ recipients: [String] = ["bob@b.example"], eightBit: Bool = false) -> OutgoingMessage {
        OutgoingMessage(
            reversePath: .mailbox(Mailbox(localPart: "alice", domain: "a.example")),
            recipients: recipients.map { OutgoingRecipient(Mailbox.parse($0)!) }, size: message.utf8.count, eightBit: eightBit)
    }

    func deliver(_ fake: FakeSMTPServer, _ messages: [OutgoingMessage] = [outgoing()], timeout: TimeAmount = .seconds(10)) async -> ClientResult {
        await SMTPClient.deliver(
            host: fake.host, port: fake.port, heloName: "mx.a.example", messages: messages, timeouts: ClientTimeouts(all: timeout),
            group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test")
        ) { _ in BufferMessageReader(ByteBuffer(string: Self.message)) }
    }

    @Test func deliversAndDotStuffsOnTheWire() async throws {
        let fake = try FakeSMTPServer(mode: "accept")
        let result = await deliver(fake, [Self.outgoing(["bob@b.example", "carol@b.example"])])
        #expect(result.notPrepared == nil)
        #expect(result.outcomes[0]?.map(\.reply.code) == [250, 250])
        #expect(result.usedEHLO)
        #expect(fake.messages == [
            "X-Envelope-From: <alice@a.example> SIZE=\(Self.message.utf8.count)\r\nX-Envelope-To: <bob@b.example>\r\nX-Envelope-To: <carol@b.example>\r\n"
                + Self.message
        ])
        #expect(fake.rawMessages == ["Subject: relayed\r\n\r\n..leading dot\r\nbody\r\n.\r\n"])
    }

    /// A peer offering CHUNKING gets each message as one `BDAT <n> LAST`: no dot-stuffing, the
    /// octet count exact, the message intact.
    @Test func chunkingSendsBDATWithoutDotStuffing() async throws {
        let fake = try FakeSMTPServer(mode: "chunking")
        let result = await deliver(fake, [Self.outgoing(["bob@b.example"]), Self.outgoing(["carol@b.example"])])
        #expect(result.outcomes[0]?.map(\.reply.code) == [250])
        #expect(result.outcomes[1]?.map(\.reply.code) == [250])
        #expect(fake.messages.count == 2)
        #expect(fake.messages.first?.hasSuffix("\r\n" + Self.message) == true)
        #expect(fake.rawMessages.first == "BDAT \(Self.message.utf8.count) LAST\r\n" + Self.message)
    }

    @Test func fallsBackToHeloWhenEhloIsRefused() async throws {
        let fake = try FakeSMTPServer(mode: "ehlo-500")
        let result = await deliver(fake)
        #expect(!result.usedEHLO)
        #expect(result.outcomes[0]?.map(\.reply.code) == [250])
        #expect(fake.messages.first?.hasPrefix("X-Envelope-From: <alice@a.example>\r\n") == true)  // no SIZE= without EHLO
    }

    @Test(arguments: ["greet-421", "greet-554"])
    func notPreparedGreeting(mode: String) async throws {
        let fake = try FakeSMTPServer(mode: mode)
        let result = await deliver(fake)
        #expect(result.notPrepared?.code == (mode == "greet-421" ? 421 : 554))
        #expect(result.outcomes.isEmpty)
    }

    @Test func silentServerTimesOut() async throws {
        let fake = try FakeSMTPServer(mode: "silent")
        let result = await deliver(fake, timeout: .milliseconds(500))
        #expect(result.notPrepared?.code == 451)
        #expect(result.notPrepared?.text.contains("timeout") == true)
    }

    @Test func nobodyListening() async throws {
        let result = await SMTPClient.deliver(
            host: "127.0.0.1", port: 9, heloName: "mx", messages: [Self.outgoing()], group: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test")
        ) { _ in BufferMessageReader(ByteBuffer()) }
        #expect(result.notPrepared?.enhancedCode == EnhancedStatusCode(4, 4, 1))
    }

    @Test func refusalsArePerRecipientAndAfterData() async throws {
        let rcpt = try FakeSMTPServer(mode: "reject-rcpt")
        #expect(await deliver(rcpt).outcomes[0]?.map(\.reply.code) == [550])
        let data = try FakeSMTPServer(mode: "reject-data")
        let r = await deliver(data)
        #expect(r.outcomes[0]?.map(\.reply.code) == [554])
        if case .failed = r.outcomes[0]?.first {} else { Issue.record("554 after data must fail the recipient") }
    }

    @Test func eightBitNeverGoesToAPeerWithout8BITMIME() async throws {
        let fake = try FakeSMTPServer(mode: "no-8bit")
        let result = await deliver(fake, [Self.outgoing(eightBit: true), Self.outgoing()])
        #expect(result.outcomes[0]?.first?.reply.enhancedCode == EnhancedStatusCode(5, 6, 3))
        #expect(result.outcomes[1]?.map(\.reply.code) == [250])
        #expect(fake.messages.count == 1)
    }

    @Test func secondAttemptAfterADeferral() async throws {
        let fake = try FakeSMTPServer(mode: "defer-first")
        let first = await deliver(fake)
        if case .deferred(let r) = first.outcomes[0]?.first { #expect(r.code == 451) } else { Issue.record("not deferred") }
        let second = await deliver(fake)
        #expect(second.outcomes[0]?.map(\.reply.code) == [250])
        #expect(fake.messages.count == 1)
    }
}
