import Foundation
import MailAuth
import MailCore
import NIOPosix
import SMTPNIO
import TestSupport
import Testing

@Suite struct PublicSuffixListTests {
    let list = PublicSuffixList.embedded

    @Test(arguments: [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"),  // a public suffix is its own
        ("MAIL.Example.COM.", "example.com"),
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),  // !city.kawasaki.jp under *.kawasaki.jp
        ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp"),  // *.kawasaki.jp
        ("foo.xn--55qx5d.cn", "foo.xn--55qx5d.cn"),  // 公司.cn in its A-label form
        ("host.unlisted-tld", "host.unlisted-tld"),  // the implicit rule "*"
    ])
    func organizationalDomains(_ domain: String, _ organizational: String) {
        #expect(list.organizationalDomain(of: domain) == organizational)
    }

    @Test func theEmbeddedListIsWhole() {
        #expect(list.count > 9000)
        // A list given as text (as a newer file would be) reads the same way.
        let small = PublicSuffixList(rules: "// comment\nuk\nco.uk\n*.ck\n!www.ck\n")
        #expect(small.organizationalDomain(of: "a.b.co.uk") == "b.co.uk")
        #expect(small.organizationalDomain(of: "a.b.ck") == "a.b.ck")
        #expect(small.organizationalDomain(of: "a.www.ck") == "www.ck")
    }
}

@Suite struct DMARCRecordTests {
    func parse(_ text: String) -> Result<DMARCRecord, DMARCProblem> { DMARCRecord.parse(Array(text.utf8)) }

    @Test func tagsAndDefaults() throws {
        let r = try parse("v=DMARC1; p=Quarantine; sp=reject; pct=20; adkim=s; rua=mailto:d@example.com; fo=1").get()
        #expect(r == DMARCRecord(
            policy: .quarantine, subdomainPolicy: .reject, percentage: 20, dkimAlignment: .strict, spfAlignment: .relaxed,
            aggregateReports: "mailto:d@example.com"))
        let d = try parse("v=DMARC1;p=none").get()
        #expect(d.percentage == 100 && d.subdomainPolicy == nil && d.dkimAlignment == .relaxed)
        // A bad optional value takes its default.
        #expect(try parse("v=DMARC1; p=reject; pct=150; aspf=x").get().percentage == 100)
    }

    @Test func aPolicyIsNeededUnlessReportsAreAsked() throws {
        #expect(try parse("v=DMARC1; rua=mailto:d@example.com").get().policy == DMARCRecord.Policy.none)
        #expect(throws: DMARCProblem.self) { try parse("v=DMARC1; p=bogus").get() }
        #expect(throws: DMARCProblem.self) { try parse("v=DMARC1").get() }
        #expect(throws: DMARCProblem.self) { try parse("v=DMARC1; p=none; p=reject").get() }
        #expect(!DMARCRecord.isDMARC(Array("p=reject; v=DMARC1".utf8)))
        #expect(!DMARCRecord.isDMARC(Array("v=spf1 -all".utf8)))
    }

    @Test func tagsAreTrimmedOfSpacesAndTabs() throws {
        let record = try parse("v=DMARC1;\t p = quarantine\t;sp=reject ; pct= 50; adkim =s ;").get()
        #expect(record.policy == .quarantine && record.subdomainPolicy == .reject && record.percentage == 50)
        #expect(record.dkimAlignment == .strict)
    }

    /// Folded From fields: CRLF and bare LF are removed, a lone CR is kept, several addresses
    /// and domains come out once each, in order, lower case, without a root dot.
    @Test func authorDomainsOfFoldedFields() {
        #expect(
            DMARCChecker.authorDomains(fromFields: [
                " \"Ann\" <ann@Example.COM.>,\r\n\tbob@sub.example.org (Bob),\n carl@example.com\r\n", " x@a\rb.example\r\n",
            ]) == ["example.com", "sub.example.org", "a\rb.example"])
    }
}

/// A table of From, SPF and DKIM domains against RFC 7489's rules, each case checked by
/// `DMARCChecker` (its records served by the tests' DNS server) and by authheaders.
@Suite struct DMARCTableTests {
    struct Case: Sendable {
        var name: String
        var from: [String]
        var spf: (SPFResult, String)?
        var dkim: (DKIMResult.Verdict, String)?
        var result: DMARCOutcome.Result
        var policy: DMARCRecord.Policy?
        /// Where authheaders departs from RFC 7489, why (its answer is then only printed).
        var authheadersDeparts: String? = nil
    }

    static let records: [String: String] = [
        "_dmarc.example.com": "v=DMARC1; p=reject",
        "_dmarc.strictspf.test": "v=DMARC1; p=reject; aspf=s",
        "_dmarc.strictdkim.test": "v=DMARC1; p=quarantine; adkim=s",
        "_dmarc.example.org": "v=DMARC1; p=reject; sp=quarantine",
        "_dmarc.example.net": "v=DMARC1; p=reject",
        "_dmarc.own.example.net": "v=DMARC1; p=none",
        "_dmarc.shop.co.uk": "v=DMARC1; p=reject",
        "_dmarc.evil.test": "v=DMARC1; p=reject",
        "_dmarc.sampled.test": "v=DMARC1; p=reject; pct=0",
        "_dmarc.reportsonly.test": "v=DMARC1; rua=mailto:dmarc@reportsonly.test",
        "_dmarc.bogus.test": "v=DMARC1; p=bogus",
        "_dmarc.upper.test": "v=DMARC1; p=quarantine",
    ]

    static let cases: [Case] = [
        Case(name: "SPF aligned exactly", from: ["a@example.com"], spf: (.pass, "example.com"), result: .pass, policy: .reject),
        Case(name: "SPF aligned relaxed", from: ["a@example.com"], spf: (.pass, "bounce.example.com"), result: .pass, policy: .reject),
        Case(name: "SPF passes for another domain", from: ["a@example.com"], spf: (.pass, "example.net"), result: .fail, policy: .reject),
        Case(name: "SPF fails in the From domain", from: ["a@example.com"], spf: (.fail, "example.com"), result: .fail, policy: .reject),
        Case(name: "SPF strict, subdomain", from: ["a@strictspf.test"], spf: (.pass, "mail.strictspf.test"), result: .fail, policy: .reject),
        Case(name: "SPF strict, exact", from: ["a@strictspf.test"], spf: (.pass, "strictspf.test"), result: .pass, policy: .reject),
        Case(name: "DKIM aligned relaxed", from: ["a@example.com"], dkim: (.pass, "mail.example.com"), result: .pass, policy: .reject),
        Case(name: "DKIM fails", from: ["a@example.com"], dkim: (.fail, "example.com"), result: .fail, policy: .reject),
        Case(name: "DKIM for another domain", from: ["a@example.com"], spf: (.softfail, "example.com"), dkim: (.pass, "other.test"),
             result: .fail, policy: .reject),
        Case(name: "DKIM strict, subdomain", from: ["a@strictdkim.test"], dkim: (.pass, "mail.strictdkim.test"), result: .fail,
             policy: .quarantine),
        Case(name: "subdomain policy", from: ["a@sub.example.org"], spf: (.fail, "sub.example.org"), result: .fail, policy: .quarantine),
        Case(name: "the domain's own policy", from: ["a@example.org"], result: .fail, policy: .reject,
             authheadersDeparts: "applies sp= to the domain that published the record (§6.3: sp= is for its subdomains)"),
        Case(name: "p= for subdomains without sp=", from: ["a@deep.sub.example.net"], result: .fail, policy: .reject),
        Case(name: "a subdomain's own record", from: ["a@own.example.net"], result: .fail, policy: DMARCRecord.Policy.none),
        Case(name: "organizational domain under co.uk", from: ["a@mail.shop.co.uk"], spf: (.pass, "shop.co.uk"), result: .pass, policy: .reject),
        Case(name: "co.uk siblings do not align", from: ["a@shop.co.uk"], dkim: (.pass, "other.co.uk"), result: .fail, policy: .reject),
        Case(name: "no record", from: ["a@norecord.test"], spf: (.fail, "norecord.test"), result: .none),
        Case(name: "several From addresses, one failing", from: ["a@example.com, b@evil.test"], spf: (.pass, "example.com"),
             result: .fail, policy: .reject,
             authheadersDeparts: "takes the strictest policy among all domains, passing ones too (§6.6.1: among the checks that fail)"),
        Case(name: "several From fields", from: ["a@example.com", "b@evil.test"], dkim: (.pass, "example.com"), result: .fail, policy: .reject,
             authheadersDeparts: "takes the strictest policy among all domains, passing ones too (§6.6.1: among the checks that fail)"),
        Case(name: "pct=0 asks the policy all the same", from: ["a@sampled.test"], result: .fail, policy: .reject),
        Case(name: "an invalid policy", from: ["a@bogus.test"], result: .none,
             authheadersDeparts: "takes p=bogus as a policy (§6.6.3 step 6: no valid p= and no rua= means no DMARC)"),
        Case(name: "upper case From domain", from: ["A <a@UPPER.Test>"], dkim: (.pass, "upper.test"), result: .pass, policy: .quarantine),
        Case(name: "reports without a policy", from: ["a@reportsonly.test"], result: .fail, policy: DMARCRecord.Policy.none,
             authheadersDeparts: "gives no result (§6.6.3 step 6: with rua= and no p=, act as p=none)"),
    ]

    @Test func tableAgainstTheRFCAndAuthheaders() async throws {
        var zone: [String: Any] = [:]
        for (name, text) in Self.records { zone[name] = ["TXT": [text]] }
        nonisolated(unsafe) let zoneData = zone
        let dns = try await blocking { try TestDNSServer(zone: zoneData) }
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        let checker = DMARCChecker(
            resolver: SystemDNSResolver(configuration: .init(server: "127.0.0.1", port: dns.port, timeout: 1, attempts: 1), threadPool: pool))

        // authheaders, all cases at once.
        var input: [[String: Any]] = []
        for c in Self.cases {
            var item: [String: Any] = ["from": c.from]
            if let spf = c.spf { item["spf"] = ["result": spf.0.rawValue, "domain": spf.1] }
            if let dkim = c.dkim { item["dkim"] = ["result": dkim.0.rawValue, "d": dkim.1] }
            input.append(item)
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ["records": Self.records, "cases": input]), as: UTF8.self)
        let script = TestPaths.packageRoot + "/Tests/Scripts/dmarc_check.py"
        let run = try await blocking { try Subprocess.run(["python3", script], stdin: json) }
        try #require(run.status == 0, "\(run.stderr)")
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String]])
        try #require(theirs.count == Self.cases.count)

        var agreed = 0
        for (c, their) in zip(Self.cases, theirs) {
            let spf = c.spf.map { SPFOutcome(result: $0.0, identity: .mailfrom, domain: $0.1) }
            let dkim = c.dkim.map { [DKIMResult(verdict: $0.0, domain: $0.1)] } ?? []
            let domains = DMARCChecker.authorDomains(fromFields: c.from)
            let ours = await checker.check(fromDomains: domains, spf: spf, dkim: dkim, sample: 0)
            #expect(ours.result == c.result, "\(c.name): \(ours.result), the RFC says \(c.result) (\(ours.reason ?? ""))")
            #expect(ours.requestedPolicy == c.policy, "\(c.name): policy \(String(describing: ours.requestedPolicy))")
            if let departs = c.authheadersDeparts {
                print("DMARC table: \(c.name): authheaders says \(their); it \(departs)")
                continue
            }
            #expect(their == [c.result.rawValue, c.policy?.rawValue ?? ""], "\(c.name): authheaders says \(their)")
            if their == [ours.result.rawValue, ours.requestedPolicy?.rawValue ?? ""] { agreed += 1 }
        }
        let compared = Self.cases.filter { $0.authheadersDeparts == nil }.count
        print("DMARC table: \(Self.cases.count) cases agree with RFC 7489; authheaders agrees on \(agreed) of the \(compared) it reads as the RFC does")
        withExtendedLifetime(dns) {}
    }

    @Test func percentageSamplesTheDisposition() async throws {
        let dns = try await blocking { try TestDNSServer(zone: ["_dmarc.pct.test": ["TXT": ["v=DMARC1; p=reject; pct=30"]]]) }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        let checker = DMARCChecker(
            resolver: SystemDNSResolver(configuration: .init(server: "127.0.0.1", port: dns.port, timeout: 1, attempts: 1), threadPool: pool))
        let picked = await checker.check(fromDomains: ["pct.test"], spf: nil, dkim: [], sample: 29)
        #expect(picked.disposition == .reject)
        let spared = await checker.check(fromDomains: ["pct.test"], spf: nil, dkim: [], sample: 30)
        #expect(spared.disposition == .quarantine)
        #expect(spared.requestedPolicy == .reject)
        withExtendedLifetime(dns) {}
    }
}
