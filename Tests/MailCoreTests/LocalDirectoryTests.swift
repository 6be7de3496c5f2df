import MailCore
import SMTPCore
import Testing

@Suite struct LocalDirectoryTests {
    let directory = LocalDirectory(
        domains: [
            "xyz.com": .init(
                users: ["carolyn", "Bob"],
                aliases: [
                    "info": ["carolyn", "bob@xyz.com", "ext@elsewhere.example"], "loop1": ["loop2"], "loop2": ["loop1"],
                    "sales": ["info"],
                ]),
            "catch.example": .init(users: ["admin"], catchAll: "admin"),
        ], primaryDomain: "xyz.com")

    func resolve(_ address: String) -> LocalDirectory.Resolution {
        directory.resolve(.mailbox(Mailbox.parse(address)!))
    }

    @Test func usersCaseInsensitive() {
        #expect(resolve("CAROLYN@XYZ.com") == .deliver([.mailbox(domain: "xyz.com", user: "carolyn")]))
        #expect(resolve("bob@xyz.com") == .deliver([.mailbox(domain: "xyz.com", user: "bob")]))
    }

    @Test func plusAddressing() {
        #expect(resolve("carolyn+lists@xyz.com") == .deliver([.mailbox(domain: "xyz.com", user: "carolyn")]))
        #expect(resolve("+x@xyz.com") == .unknownUser)
        var plain = directory
        plain.recipientDelimiter = nil
        #expect(plain.resolve(.mailbox(Mailbox.parse("carolyn+lists@xyz.com")!)) == .unknownUser)
        plain.recipientDelimiter = "-"
        #expect(plain.resolve(.mailbox(Mailbox.parse("carolyn-lists@xyz.com")!)) == .deliver([.mailbox(domain: "xyz.com", user: "carolyn")]))
    }

    @Test func aliasesExpandToLocalAndRemote() {
        #expect(
            resolve("info@xyz.com")
                == .deliver([
                    .mailbox(domain: "xyz.com", user: "carolyn"), .mailbox(domain: "xyz.com", user: "bob"),
                    .remote(Mailbox(localPart: "ext", domain: "elsewhere.example")),
                ]))
        #expect(resolve("sales@xyz.com") == resolve("info@xyz.com"))
        #expect(resolve("loop1@xyz.com") == .aliasLoop)
    }

    @Test func postmasterAlwaysExists() {
        #expect(directory.resolve(.postmaster) == .deliver([.mailbox(domain: "xyz.com", user: "postmaster")]))
        #expect(resolve("PostMaster@catch.example") == .deliver([.mailbox(domain: "catch.example", user: "postmaster")]))
    }

    @Test func catchAll() {
        #expect(resolve("anything@catch.example") == .deliver([.mailbox(domain: "catch.example", user: "admin")]))
        #expect(resolve("anything@xyz.com") == .unknownUser)
    }

    @Test func otherDomainsAreNotLocal() {
        #expect(resolve("a@elsewhere.example") == .notLocal)
        #expect(resolve("a@[127.0.0.1]") == .notLocal)
    }

    @Test(arguments: ["\"../../etc\"@xyz.com", "\"a/b\"@xyz.com", "\"..\"@xyz.com", "\"a\\\u{7f}b\"@xyz.com", "\".hidden\"@xyz.com"])
    func localPartsNeverLeaveTheMailRoot(address: String) {
        guard let m = Mailbox.parse(address) else { return }  // refused by the grammar already
        #expect(directory.resolve(.mailbox(m)) == .unsafe)
    }

    @Test func relayTricksAreJustUnknownLocalParts() {
        #expect(resolve("carolyn%elsewhere.example@xyz.com") == .unknownUser)
        #expect(resolve("elsewhere.example!carolyn@xyz.com") == .unknownUser)
        #expect(resolve("\"carolyn@elsewhere.example\"@xyz.com") == .unknownUser)
    }
}

@Suite struct IPNetworkTests {
    @Test func ipv4() {
        let n = IPNetwork("192.0.2.0/24")!
        #expect(n.contains("192.0.2.77"))
        #expect(!n.contains("192.0.3.1"))
        #expect(n.contains("::ffff:192.0.2.1"))
        #expect(IPNetwork("10.0.0.1")!.contains("10.0.0.1"))
        #expect(!IPNetwork("10.0.0.1")!.contains("10.0.0.2"))
        #expect(IPNetwork("0.0.0.0/0")!.contains("8.8.8.8"))
    }

    @Test func ipv6() {
        let n = IPNetwork("2001:db8::/32")!
        #expect(n.contains("2001:db8:1::5"))
        #expect(!n.contains("2001:db9::1"))
        #expect(!n.contains("192.0.2.1"))
        #expect(IPNetwork("::1")!.contains("::1"))
    }

    @Test(arguments: ["", "300.1.1.1/8", "10.0.0.0/33", "1::2::3/64", "example.com"])
    func invalid(text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
