import MailCore
import Testing

@testable import Delivery

@Suite struct ReportPolicyTests {
    func envelope(protocolName: String, client: String) -> Envelope {
        Envelope(id: "Q", arrivalTime: 0, size: 1, sender: .null, clientAddress: client, heloName: "h", protocolName: protocolName, recipients: [])
    }

    @Test func whoPostieVouchesFor() {
        let trusted = [IPNetwork("192.0.2.0/24")!]
        #expect(ReportPolicy.vouchesFor(envelope(protocolName: "ESMTPSA", client: "203.0.113.9"), trustedNetworks: trusted))
        #expect(ReportPolicy.vouchesFor(envelope(protocolName: "local", client: "127.0.0.1"), trustedNetworks: []))
        #expect(ReportPolicy.vouchesFor(envelope(protocolName: "ESMTP", client: "192.0.2.7"), trustedNetworks: trusted))
        #expect(!ReportPolicy.vouchesFor(envelope(protocolName: "ESMTPS", client: "203.0.113.9"), trustedNetworks: trusted))
        #expect(ReportPolicy.mayReport(.failed, vouched: false))
        #expect(!ReportPolicy.mayReport(.delivered, vouched: false))
        #expect(!ReportPolicy.mayReport(.delayed, vouched: false))
        #expect(ReportPolicy.mayReport(.relayed, vouched: true))
    }

    /// A sliding hour on the time given: the cap holds within it and frees up as it passes.
    @Test func theCapSlidesWithTheHour() {
        let limiter = ReportLimiter()
        #expect(limiter.admit(domain: "victim.example", now: 1000, perHour: 2))
        #expect(limiter.admit(domain: "victim.example", now: 1100, perHour: 2))
        #expect(!limiter.admit(domain: "victim.example", now: 1200, perHour: 2))
        #expect(limiter.admit(domain: "other.example", now: 1200, perHour: 2))
        #expect(!limiter.admit(domain: "victim.example", now: 4599, perHour: 2))
        #expect(limiter.admit(domain: "victim.example", now: 4600, perHour: 2))
    }
}
