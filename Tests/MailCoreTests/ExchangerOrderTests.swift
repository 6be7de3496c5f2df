import MailCore
import Testing

@Suite struct ExchangerOrderTests {
    let first: (Int) -> Int = { _ in 0 }

    @Test func exchangersByPreferenceAndOurselvesDropped() {
        let records = [(20, "mx2.example.com"), (10, "mx1.example.com"), (30, "mx3.example.com")]
        #expect(ExchangerOrder.decide(domain: "example.com", records: records, random: first) == .tryHosts(["mx1.example.com", "mx2.example.com", "mx3.example.com"]))
        // We are the preference-20 exchanger: only the better one is tried (RFC 5321 §5.1).
        #expect(
            ExchangerOrder.decide(domain: "example.com", records: records, ourName: "MX2.example.com.", random: first)
                == .tryHosts(["mx1.example.com"]))
        // We are the best one: nowhere else to go.
        #expect(ExchangerOrder.decide(domain: "example.com", records: records, ourName: "mx1.example.com", random: first) == .loopsToSelf)
        // No MX, and the domain is our own name.
        #expect(ExchangerOrder.decide(domain: "mx.test", records: [], ourName: "mx.test", random: first) == .loopsToSelf)
        #expect(ExchangerOrder.decide(domain: "other.test", records: [], ourName: "mx.test", random: first) == .tryHosts(["other.test"]))
    }
}
