import Logging
import NIOCore
import NIOEmbedded
import SMTPCore
import SMTPNIO
import Testing

/// A mail side whose answers the test gives by hand.
final class ManualDelegate: SMTPConnectionDelegate, @unchecked Sendable {
    let eventLoop: EventLoop
    var recipientPromises: [EventLoopPromise<Reply>] = []
    var commitPromises: [EventLoopPromise<Reply>] = []
    var data = ByteBuffer()
    var aborted = 0
    var bufferedMessageBytes = 0
    var onProgress: (() -> Void)?

    init(eventLoop: EventLoop) { self.eventLoop = eventLoop }

    func checkRecipient(_ recipient: AcceptedRecipient, transaction: SessionTransaction, session: ServerSession) -> EventLoopFuture<Reply> {
        let p = eventLoop.makePromise(of: Reply.self)
        recipientPromises.append(p)
        return p.futureResult
    }
    func beginMessage(_ start: MessageStart, session: ServerSession) { data.clear() }
    func messageData(_ buffer: ByteBuffer) {
        var b = buffer
        data.writeBuffer(&b)
    }
    func commitMessage() -> EventLoopFuture<Reply> {
        let p = eventLoop.makePromise(of: Reply.self)
        commitPromises.append(p)
        return p.futureResult
    }
    func abortMessage() { aborted += 1 }
    func connectionClosed() {}
    var authPromises: [EventLoopPromise<AuthenticationOutcome>] = []
    func authenticate(_ credentials: SASLCredentials, session: ServerSession) -> EventLoopFuture<AuthenticationOutcome> {
        let p = eventLoop.makePromise(of: AuthenticationOutcome.self)
        authPromises.append(p)
        return p.futureResult
    }
}

struct ManualFactory: SMTPServerDelegate {
    let delegate: ManualDelegate
    func makeConnectionDelegate(for connection: SMTPConnectionInfo, eventLoop: EventLoop) -> SMTPConnectionDelegate { delegate }
}

/// Counts the reads that reach the socket.
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Any
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

@Suite struct SMTPServerHandlerTests {
    /// What the handler calls to start TLS (a struct, so that trailing closures still mean `configure`).
    struct StartTLS {
        var start: (Channel) -> EventLoopFuture<Void>
    }

    struct Harness {
        let channel: EmbeddedChannel
        let delegate: ManualDelegate
        let counter: ReadCounter

        init(
            maxConnections: Int = 10, startTLS: StartTLS? = nil,
            configure: (inout SMTPServerConfiguration) -> Void = { _ in }
        ) throws {
            channel = EmbeddedChannel()
            delegate = ManualDelegate(eventLoop: channel.eventLoop)
            counter = ReadCounter()
            var config = SMTPServerConfiguration(session: .init(hostname: "mx.test"))
            configure(&config)
            let handler = SMTPServerHandler(
                configuration: config, delegate: ManualFactory(delegate: delegate),
                limiter: ConnectionLimiter(maxTotal: maxConnections, maxPerClient: maxConnections), connectionID: 1,
                logger: Logger(label: "test"), startTLS: startTLS?.start)
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 25)).wait()
        }

        func send(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }

        /// HELO, MAIL and an accepted RCPT; the replies are read.
        func openTransaction() throws {
            _ = try output()
            try send("HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n")
            delegate.recipientPromises.last!.succeed(Reply(250, .init(2, 1, 5), "Ok"))
            _ = try output()
        }

        func output() throws -> String {
            var s = ""
            while let b = try channel.readOutbound(as: ByteBuffer.self) { s += String(buffer: b) }
            return s
        }
    }

    @Test func greetsFirstAndAnswersPipelinedCommandsInOrder() throws {
        let h = try Harness()
        #expect(try h.output() == "220 mx.test ESMTP Postie\r\n")
        try h.send("HELO c\r\nNOOP\r\nRSET\r\n")
        #expect(try h.output() == "250 mx.test\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n")
    }

    @Test func notPreparedWhenTheLimitIsReached() throws {
        let h = try Harness(maxConnections: 0)
        #expect(try h.output().hasPrefix("421 4.3.2 mx.test Too many connections"))
        #expect(!h.channel.isActive)
    }

    @Test func stopsReadingWhileARecipientIsChecked() throws {
        let h = try Harness()
        _ = try h.output()
        try h.send("HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nNOOP\r\n")
        #expect(try h.output() == "250 mx.test\r\n250 2.1.0 Ok\r\n")
        let before = h.counter.reads
        h.channel.read()
        #expect(h.counter.reads == before)  // held back
        h.delegate.recipientPromises[0].succeed(Reply(250, .init(2, 1, 5), "Ok"))
        #expect(h.counter.reads == before + 1)  // released
        #expect(try h.output() == "250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n")
    }

    @Test func replyAfterDataWaitsForTheCommit() throws {
        let h = try Harness()
        try h.openTransaction()
        try h.send("DATA\r\n")
        _ = try h.output()
        try h.send("Subject: x\r\n\r\n..body\r\n.\r\nQUIT\r\n")
        #expect(try h.output() == "")  // nothing until the message is durable
        #expect(String(buffer: h.delegate.data) == "Subject: x\r\n\r\n.body\r\n")
        h.delegate.commitPromises[0].succeed(Reply(250, .init(2, 0, 0), "Ok: queued as X"))
        #expect(try h.output() == "250 2.0.0 Ok: queued as X\r\n221 2.0.0 Bye\r\n")
        #expect(!h.channel.isActive)
    }

    @Test func failedCommitIsATemporaryError() throws {
        let h = try Harness()
        try h.openTransaction()
        try h.send("DATA\r\nx\r\n.\r\n")
        _ = try h.output()
        struct DiskFull: Error {}
        h.delegate.commitPromises[0].fail(DiskFull())
        #expect(try h.output().hasPrefix("451 4.3.0"))
    }

    @Test func stopsReadingWhileMessageDataWaitsForTheDisk() throws {
        let h = try Harness { $0.maxBufferedMessageBytes = 10 }
        try h.openTransaction()
        try h.send("DATA\r\n")
        h.delegate.bufferedMessageBytes = 11
        let before = h.counter.reads
        h.channel.read()
        #expect(h.counter.reads == before)
        h.delegate.bufferedMessageBytes = 0
        h.delegate.onProgress?()
        #expect(h.counter.reads == before + 1)
    }

    @Test func idleClientGets421() throws {
        let h = try Harness { $0.commandTimeout = .seconds(300) }
        _ = try h.output()
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(299))
        #expect(try h.output() == "")
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try h.output().hasPrefix("421 4.4.2"))
        #expect(!h.channel.isActive)
    }

    @Test func dataTricklingPastThePhaseLimitIsCutOff() throws {
        let h = try Harness {
            $0.dataTimeout = .seconds(60)
            $0.dataPhaseLimit = .seconds(100)
        }
        try h.openTransaction()
        try h.send("DATA\r\n")
        _ = try h.output()
        for _ in 0..<3 {
            h.channel.embeddedEventLoop.advanceTime(by: .seconds(40))  // within the data timeout each time
            try h.send("more data\r\n")
        }
        #expect(try h.output().hasPrefix("421 4.4.2"))
        #expect(!h.channel.isActive)
        #expect(h.delegate.aborted == 1)
    }

    /// A client that says STARTTLS and then nothing: the handshake waits for the client, so the
    /// command timeout applies (it used to re-arm for ever, as for our own work).
    @Test func aStalledHandshakeAfterSTARTTLSIsTimedOut() throws {
        var handshake: EventLoopPromise<Void>?
        let h = try Harness(startTLS: StartTLS { channel in
            let p = channel.eventLoop.makePromise(of: Void.self)
            handshake = p
            return p.futureResult
        }) {
            $0.commandTimeout = .seconds(10)
            $0.session.extensions = .init(startTLS: true)
        }
        _ = try h.output()
        try h.send("EHLO c\r\nSTARTTLS\r\n")
        #expect(try h.output().hasSuffix("220 2.0.0 Ready to start TLS\r\n"))
        #expect(handshake != nil)
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(h.channel.isActive)
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try h.output().hasPrefix("421 4.4.2"))
        #expect(!h.channel.isActive)
        handshake?.fail(ChannelError.ioOnClosedChannel)
    }

    /// Our own work (a commit that takes long) is not the client's idleness.
    @Test func aSlowCommitIsNotTheClientsTimeout() throws {
        let h = try Harness { $0.commandTimeout = .seconds(10) }
        try h.openTransaction()
        try h.send("DATA\r\nhello\r\n.\r\n")
        _ = try h.output()
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(h.channel.isActive)
        h.delegate.commitPromises.last?.succeed(Reply(250, .init(2, 0, 0), "Ok"))
        #expect(try h.output() == "250 2.0.0 Ok\r\n")
    }

    /// The limit on a message's data phase holds for BDAT too: chunks a little at a time, each
    /// within the command timeout, are cut off once the message has taken too long.
    @Test func bdatTricklingPastThePhaseLimitIsCutOff() throws {
        let h = try Harness {
            $0.commandTimeout = .seconds(60)
            $0.dataTimeout = .seconds(60)
            $0.dataPhaseLimit = .seconds(100)
        }
        try h.openTransaction()
        var replies = ""
        for _ in 0..<4 {
            try h.send("BDAT 1\r\nx")
            replies += try h.output()
            h.channel.embeddedEventLoop.advanceTime(by: .seconds(40))
        }
        try h.send("BDAT 1\r\nx")
        replies += try h.output()
        #expect(replies.contains("421 4.4.2"), "\(replies)")
        #expect(!h.channel.isActive)
        #expect(h.delegate.aborted == 1)
        #expect(h.delegate.commitPromises.isEmpty)
    }

    @Test func droppedConnectionAbandonsTheMessage() throws {
        let h = try Harness()
        try h.openTransaction()
        try h.send("DATA\r\nhalf a mess")
        h.channel.pipeline.fireChannelInactive()
        #expect(h.delegate.aborted == 1)
    }
}

@Suite struct ServerHelloTests {
    /// A TLS 1.3 ServerHello's first octets: record header, handshake header, legacy version,
    /// random, a 32-octet session id echo, then the suite.
    static func serverHello(sessionID: Int, suite: UInt16) -> [UInt8] {
        var b: [UInt8] = [22, 3, 3, 0, 122, 2, 0, 0, 118, 3, 3]
        b += [UInt8](repeating: 0xAB, count: 32)
        b.append(UInt8(sessionID))
        b += [UInt8](repeating: 0xCD, count: sessionID)
        b += [UInt8(suite >> 8), UInt8(suite & 0xFF), 0]
        return b
    }

    @Test func findsTheSuiteWhateverTheSessionID() {
        for id in [0, 32] {
            let hello = Self.serverHello(sessionID: id, suite: 0x1302)
            #expect(TLSServerHello.parse(hello) == .cipherSuite(0x1302))
            // Every shorter prefix asks for more.
            let suiteEnd = 5 + 4 + 2 + 32 + 1 + id + 2
            for n in 0..<suiteEnd { #expect(TLSServerHello.parse(hello.prefix(n)) == .needMore, "\(id) \(n)") }
        }
        #expect(TLSServerHello.name(of: 0x1302) == "TLS_AES_256_GCM_SHA384")
        #expect(TLSServerHello.name(of: 0xC02B) == "ECDHE-ECDSA-AES128-GCM-SHA256")
        #expect(TLSServerHello.name(of: 0x00FF) == "0x00FF")
    }

    @Test func givesUpOnAnythingElse() {
        #expect(TLSServerHello.parse([23, 3, 3, 0, 10]) == .notServerHello)  // application data
        #expect(TLSServerHello.parse([22, 3, 3, 0, 10, 1]) == .notServerHello)  // a ClientHello
        var bad = Self.serverHello(sessionID: 0, suite: 1)
        bad[43] = 200  // a session id longer than 32
        #expect(TLSServerHello.parse(bad) == .notServerHello)
    }
}
