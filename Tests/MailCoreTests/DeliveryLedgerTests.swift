import MailCore
import SMTPCore
import Testing

/// The queue's policy as table tests: no clock, no sockets; the time and the jitter are given.
@Suite struct DeliveryLedgerTests {
    let policy = DeliveryLedger.Policy(retryMinimum: 300, retryMaximum: 4 * 3600, maxLifetime: 5 * 86400, delayWarning: 4 * 3600)
    let noJitter: (Int64) -> Int64 = { _ in 0 }
    let fullJitter: (Int64) -> Int64 = { $0 }

    func envelope(_ recipients: [EnvelopeRecipient], arrival: Int64 = 1_000_000) -> Envelope {
        Envelope(
            id: "Q1", arrivalTime: arrival, size: 10, sender: .mailbox(Mailbox(localPart: "a", domain: "abcd.com")),
            clientAddress: "192.0.2.1", heloName: "c", protocolName: "ESMTP", recipients: recipients)
    }

    func local(_ user: String, notify: String? = nil) -> EnvelopeRecipient {
        EnvelopeRecipient(target: .mailbox(domain: "xyz.com", user: user), original: "<\(user)@xyz.com>", notify: notify)
    }

    static let ok = Reply(250, .init(2, 0, 0), "ok")
    static let busy = Reply(451, .init(4, 3, 0), "busy")
    static let gone = Reply(550, .init(5, 1, 1), "no such user")

    @Test(arguments: [
        (1, Int64(300)), (2, 600), (3, 1200), (4, 2400), (5, 4800), (6, 9600), (7, 14400), (30, 14400),
    ])
    func backoffDoublesUpToTheMaximum(attempts: Int, seconds: Int64) {
        #expect(DeliveryLedger.backoff(attempts: attempts, policy: policy, jitter: noJitter) == seconds)
    }

    @Test func jitterAddsAtMostATenthAndNeverPassesTheMaximum() {
        var asked: [Int64] = []
        let seconds = DeliveryLedger.backoff(attempts: 3, policy: policy, jitter: { asked.append($0); return $0 })
        #expect(asked == [120])
        #expect(seconds == 1320)
        #expect(DeliveryLedger.backoff(attempts: 9, policy: policy, jitter: fullJitter) == policy.retryMaximum)
    }

    /// One delivered, one failed, one deferred: each recipient on its own, the message waits for
    /// the deferred one only.
    @Test func partialOutcomes() {
        var e = envelope([local("a"), local("b"), local("c")])
        let notices = DeliveryLedger.record(
            [.init(RecipientID(0), .delivered(Self.ok)), .init(RecipientID(1), .failed(Self.gone), relay: "mx[192.0.2.9]:25"),
             .init(RecipientID(2), .deferred(Self.busy))],
            in: &e, now: 1_000_100, policy: policy, jitter: noJitter)
        #expect(e.recipients.map(\.status) == [.delivered, .failed, .deferred])
        #expect(e.recipients.map(\.attempts) == [1, 1, 1])
        #expect(e.recipients[0].lastError == nil)
        #expect(e.recipients[2].lastError == Self.busy.description)
        #expect(e.nextAttempt == 1_000_400)
        #expect(notices.map(\.action) == [.delivered, .failed])
        #expect(notices[1].relay == "mx[192.0.2.9]:25")
        #expect(!e.isFinished)
    }

    @Test func aDeliveryThroughARelayIsRelayed() {
        var e = envelope([local("a")])
        let notices = DeliveryLedger.record(
            [.init(RecipientID(0), .delivered(Self.ok), relay: "mx[192.0.2.9]:25")], in: &e, now: 0, policy: policy, jitter: noJitter)
        #expect(notices.first?.action == .relayed)
    }

    /// Past its lifetime, what still waits fails with 5.4.7 (delivery time expired: a failure's
    /// class, not a 550 with a 4.x.x code) and the last problem, in Postie's own words; a message
    /// still within it is left alone.
    @Test func expiry() {
        var e = envelope([local("a"), local("b")])
        _ = DeliveryLedger.record([.init(RecipientID(0), .deferred(Self.busy))], in: &e, now: 1_000_000, policy: policy, jitter: noJitter)
        var young = e
        #expect(DeliveryLedger.close(&young, now: 1_000_000 + policy.maxLifetime - 1, policy: policy).allSatisfy { $0.action != .failed })
        #expect(young.recipients[0].status == .deferred)
        let notices = DeliveryLedger.close(&e, now: 1_000_000 + policy.maxLifetime, policy: policy)
        #expect(e.recipients.map(\.status) == [.failed, .failed])
        #expect(notices.filter { $0.action == .failed }.count == 2)
        #expect(notices.first?.status.code == .init(5, 4, 7))
        #expect(notices.first?.status.kind == .failed)
        #expect(notices.first?.status.remoteReply == nil)
        #expect(notices.first?.status.diagnosticCode.hasPrefix("X-Postie; delivery time expired") == true)
        #expect(notices.first?.status.text.contains("last problem: \(Self.busy.description)") == true)
        #expect(e.isFinished)
    }

    /// Past the warning time the sender hears once that the message is delayed.
    @Test func oneDelayNotice() {
        var e = envelope([local("a")])
        _ = DeliveryLedger.record([.init(RecipientID(0), .deferred(Self.busy))], in: &e, now: 1_000_000, policy: policy, jitter: noJitter)
        #expect(DeliveryLedger.close(&e, now: 1_000_000 + policy.delayWarning - 1, policy: policy).isEmpty)
        let first = DeliveryLedger.close(&e, now: 1_000_000 + policy.delayWarning, policy: policy)
        #expect(first.map(\.action) == [.delayed])
        #expect(first.first?.status.code == .init(4, 4, 7))
        #expect(e.delayNotified)
        #expect(DeliveryLedger.close(&e, now: 1_000_000 + policy.delayWarning + 3600, policy: policy).isEmpty)
        var never = envelope([local("a")])
        _ = DeliveryLedger.record([.init(RecipientID(0), .deferred(Self.busy))], in: &never, now: 0, policy: policy, jitter: noJitter)
        var off = policy
        off.delayWarning = 0
        #expect(DeliveryLedger.close(&never, now: 1_000_000 + 86400, policy: off).isEmpty)
    }

    /// A server's reply is kept as it came (the report's `smtp;` diagnostic); the code always has
    /// the class of the outcome, whatever the reply's enhanced code said.
    @Test func statusFromARemoteReply() {
        let refused = DeliveryStatus(.failed(Self.gone))
        #expect(refused.code == .init(5, 1, 1))
        #expect(refused.diagnosticCode == "smtp; 550 5.1.1 no such user")
        #expect(refused.description == "550 5.1.1 no such user")
        let odd = DeliveryStatus(.deferred(Reply(421, .init(5, 7, 1), "odd")))
        #expect(odd.code == .init(4, 7, 1))
        let bare = DeliveryStatus(remote: Reply(250, nil, "ok"))
        #expect(bare.kind == .delivered && bare.code == .init(2, 0, 0))
        let own = DeliveryStatus.deferred(.init(5, 4, 1), "connect failed")
        #expect(own.code == .init(4, 4, 1))
        #expect(own.description == "4.4.1 connect failed")
    }

    @Test(arguments: [
        (nil as String?, DeliveryReport.Action.failed, true), (nil, .delayed, true), (nil, .delivered, false),
        ("SUCCESS", .delivered, true), ("SUCCESS", .relayed, true), ("SUCCESS", .failed, false),
        ("FAILURE", .failed, true), ("FAILURE", .delayed, false), ("NEVER", .failed, false), ("success,delay", .delayed, true),
    ])
    func notifyDecidesWhatTheSenderHearsOf(notify: String?, action: DeliveryReport.Action, wanted: Bool) {
        #expect(DeliveryLedger.Notice.wanted(local("a", notify: notify), action) == wanted)
    }
}
