import Foundation
import MailAuth
import Testing
import TestSupport

/// SRS against the addresses postsrsd (Debian's 1.10, libsrs2's scheme) wrote with the same
/// secret on the same day, and against a running postsrsd.
@Suite struct SRSTests {
    static let srs = SRS(secrets: [Array("tops3cret".utf8)], domain: "fwd.example")
    /// 2026-12-06 (day 20793; 313 modulo 1024: "JZ"), an hour in.
    static let now: Int64 = 20793 * 86400 + 3600

    @Test func rewritesAsPostsrsdDoes() {
        #expect(Self.srs.forward(local: "alice", domain: "Example.ORG", now: Self.now) == ("SRS0=QQrf=JZ=Example.ORG=alice", "fwd.example"))
        #expect(Self.srs.forward(local: "a=b", domain: "example.org", now: Self.now) == ("SRS0=fUJr=JZ=example.org=a=b", "fwd.example"))
        // Another forwarder's SRS0 becomes SRS1, keeping that forwarder and its separator.
        #expect(
            Self.srs.forward(local: "SRS0=abcd=TT=example.org=alice", domain: "first.example", now: Self.now)
                == ("SRS1=ZSEU=first.example==abcd=TT=example.org=alice", "fwd.example"))
        #expect(
            Self.srs.forward(local: "SRS0+abcd=TT=example.org=alice", domain: "first.example", now: Self.now)
                == ("SRS1=xWE2=first.example=+abcd=TT=example.org=alice", "fwd.example"))
    }

    @Test func reversesWhatItWroteAndWhatPostsrsdWrote() throws {
        #expect(try Self.srs.reverse(local: "SRS0=QQrf=JZ=Example.ORG=alice", now: Self.now) == ("alice", "Example.ORG"))
        // The hash and the prefix in any case.
        #expect(try Self.srs.reverse(local: "srs0=qqrf=jz=example.org=alice", now: Self.now) == ("alice", "example.org"))
        #expect(
            try Self.srs.reverse(local: "SRS1=ZSEU=first.example==abcd=TT=example.org=alice", now: Self.now)
                == ("SRS0=abcd=TT=example.org=alice", "first.example"))
        // SRS1 of an SRS1: the first forwarder stays.
        let again = Self.srs.forward(local: "SRS1=ZSEU=first.example==abcd=TT=example.org=alice", domain: "second.example", now: Self.now)
        #expect(again.local.hasPrefix("SRS1=") && again.local.hasSuffix("=first.example==abcd=TT=example.org=alice"))
        #expect(try Self.srs.reverse(local: again.local, now: Self.now) == ("SRS0=abcd=TT=example.org=alice", "first.example"))
        // Round trips.
        for (local, domain) in [("bob", "example.net"), ("x.y+tag", "sub.example.com"), ("a=b", "example.org")] {
            let out = Self.srs.forward(local: local, domain: domain, now: Self.now)
            #expect(try Self.srs.reverse(local: out.local, now: Self.now + 20 * 86400) == (local, domain))
        }
    }

    @Test func forgedMalformedAndOldAddressesAreRefused() {
        func refusal(_ local: String, at now: Int64 = Self.now) -> SRS.ReverseError? {
            do {
                _ = try Self.srs.reverse(local: local, now: now)
                return nil
            } catch { return error }
        }
        #expect(refusal("SRS0=QQrx=JZ=Example.ORG=alice") == .badHash)
        #expect(refusal("SRS0=QQrf=JZ=Example.ORG=alice=x") == .badHash)
        #expect(refusal("SRS0=QQr=JZ=Example.ORG=alice") == .badHash)
        #expect(refusal("SRS0=QQrf=JZ=Example.ORG") == .malformed)
        #expect(refusal("SRS1=ZSEX=first.example==abcd=TT=example.org=alice") == .badHash)
        #expect(refusal("alice") == .notSRS)
        #expect(refusal("SRS0") == .notSRS)
        // Valid for 21 days, then not; the day stamp wraps every 1024 days.
        #expect(refusal("SRS0=QQrf=JZ=Example.ORG=alice", at: Self.now + 21 * 86400) == nil)
        #expect(refusal("SRS0=QQrf=JZ=Example.ORG=alice", at: Self.now + 22 * 86400) == .expired)
        #expect(refusal("SRS0=QQrf=JZ=Example.ORG=alice", at: Self.now + 1024 * 86400) == nil)
        // Signed with an older secret, still accepted while that secret is listed.
        let rotated = SRS(secrets: [Array("new".utf8), Array("tops3cret".utf8)], domain: "fwd.example")
        #expect((try? rotated.reverse(local: "SRS0=QQrf=JZ=Example.ORG=alice", now: Self.now)) != nil)
        #expect(rotated.forward(local: "alice", domain: "Example.ORG", now: Self.now).local != "SRS0=QQrf=JZ=Example.ORG=alice")
    }

    /// A running postsrsd with the same secret reads Postie's addresses, and Postie reads its.
    @Test func interworksWithARunningPostsrsd() async throws {
        // All of it blocks (a daemon, sockets, waits): off the cooperative threads.
        try await blocking { try Self.interworkWithPostsrsd() }
    }

    static func interworkWithPostsrsd() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/postsrsd") else {
            Issue.record("postsrsd is not installed (Tests/run installs it)")
            return
        }
        let dir = try TestPaths.temporaryDirectory("srs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "tops3cret\n".write(toFile: dir + "/secret", atomically: true, encoding: .utf8)
        let forward = try TestPaths.freePort()
        let reverse = try TestPaths.freePort()
        let daemon = try RunningProcess([
            "/usr/sbin/postsrsd", "-s", dir + "/secret", "-d", "fwd.example", "-f", "\(forward)", "-r", "\(reverse)", "-l", "127.0.0.1", "-4",
        ])
        defer { daemon.signal(SIGTERM) }
        // Postfix's tcp_table protocol: "get <key>" answered "200 <value>" or "500 <why>".
        func ask(_ port: Int, _ key: String) throws -> String {
            let client = try LineClient(port: port)
            client.send("get \(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key)\n")
            let line = client.readLine() ?? ""
            return line.removingPercentEncoding ?? line
        }
        var reply = ""
        for _ in 0..<100 {
            reply = (try? ask(forward, "carol@example.net")) ?? ""
            if !reply.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let srs = SRS(secrets: [Array("tops3cret".utf8)], domain: "fwd.example")
        let ours = srs.forward(local: "carol", domain: "example.net", now: now)
        #expect(reply == "200 \(ours.local)@fwd.example")
        #expect(try ask(reverse, "\(ours.local)@fwd.example") == "200 carol@example.net")
        let theirs = try ask(forward, "SRS0=abcd=TT=example.org=dave@first.example")
        #expect(theirs.hasPrefix("200 SRS1="))
        let address = String(theirs.dropFirst(4))
        let local = String(address[..<address.lastIndex(of: "@")!])
        #expect(try srs.reverse(local: local, now: now) == ("SRS0=abcd=TT=example.org=dave", "first.example"))
    }
}
