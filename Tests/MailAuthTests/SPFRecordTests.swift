import MailAuth
import Testing

@Suite struct SPFRecordTests {
    func parse(_ text: String) -> Result<SPFRecord, SPFProblem> { SPFRecord.parse(Array(text.utf8)) }

    @Test func recordsAreRecognisedByTheirVersion() {
        #expect(SPFRecord.isSPF(Array("v=spf1 -all".utf8)))
        #expect(SPFRecord.isSPF(Array("V=SPF1".utf8)))
        #expect(!SPFRecord.isSPF(Array("v=spf10 -all".utf8)))
        #expect(!SPFRecord.isSPF(Array("v=spf2.0/pra -all".utf8)))
    }

    @Test func everyMechanismReads() throws {
        let record = try parse("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a a:%{d}.example.com/28//64 mx/30 ptr:example.com "
            + "exists:%{ir}.%{v}._spf.%{d} include:_spf.example.com ~all redirect=other.example.com exp=explain.%{d} foo=bar").get()
        #expect(record.directives.map(\.text) == [
            "ip4:192.0.2.0/24", "ip6:2001:db8::/32", "a", "a:%{d}.example.com/28//64", "mx/30", "ptr:example.com",
            "exists:%{ir}.%{v}._spf.%{d}", "include:_spf.example.com", "~all",
        ])
        #expect(record.directives[0].mechanism == .ip4([192, 0, 2, 0], 24))
        guard case .a(let spec?, ipv4: 28, ipv6: 64) = record.directives[3].mechanism else {
            Issue.record("a with a domain and both prefix lengths: \(record.directives[3].mechanism)")
            return
        }
        #expect(spec.description == "%{d}.example.com")
        guard case .mx(nil, ipv4: 30, ipv6: 128) = record.directives[4].mechanism else {
            Issue.record("mx/30")
            return
        }
        #expect(record.directives[8].qualifier == .softfail)
        #expect(record.redirect?.description == "other.example.com")
        #expect(record.explanation?.description == "explain.%{d}")
    }

    @Test(arguments: [
        "v=spf1 redirect=a.example.com redirect=b.example.com",  // twice
        "v=spf1 exp=a.example.com exp=b.example.com",
        "v=spf1 ip4:192.0.2.0/33",  // too long a prefix
        "v=spf1 ip4:192.0.2.0/024",  // a leading zero
        "v=spf1 ip6:192.0.2.1",
        "v=spf1 a:example",  // no top label
        "v=spf1 include:",
        "v=spf1 frobnicate",
        "v=spf1 a:%{x}.example.com",  // an unknown macro letter
        "v=spf1 a:%{c}.example.com",  // c only in explanations
        "v=spf1 exists:%{l0}.example.com",  // zero parts
        "v=spf1 a:100%.example.com",
        "v=spf1 -all:foo",
    ])
    func malformedRecordsArePermanentErrors(_ text: String) {
        if case .success = parse(text) { Issue.record("\(text) was read") }
    }

    @Test func macroStrings() throws {
        let m = try SPFMacroString.parse("%{ir}.%{v}._spf.%{D2}%%%_%-", explanation: true).get()
        #expect(m.parts.count == 6)
        #expect(m.parts[4] == .macro(letter: "d", escaped: true, parts: 2, reversed: false, delimiters: []))
        #expect(m.parts[5] == .literal("% %20"))
        #expect((try? SPFMacroString.parse("%{c} is %{t}", explanation: true).get()) != nil)
        #expect((try? SPFMacroString.parse("%{c} is %{t}").get()) == nil)
    }
}
