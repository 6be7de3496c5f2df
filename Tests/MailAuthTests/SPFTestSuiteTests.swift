import Foundation
import MailAuth
import MailCore
import NIOPosix
import SMTPNIO
import TestSupport
import Testing

/// The RFC 7208 test suite (Tests/Fixtures/rfc7208): each scenario's zone served by the tests'
/// DNS server, each test checked through `SPFChecker` and the real resolver. The counts are
/// printed; every test must give one of the results the suite allows.
@Suite struct SPFTestSuiteTests {
    struct Case {
        var scenario: String
        var name: String
        var spec: String
        var helo: String
        var host: String
        var mailFrom: String
        var results: [String]
        var explanation: String?
    }

    @Test func rfc7208Suite() async throws {
        let root = TestPaths.packageRoot
        let converted = try await blocking {
            try Subprocess.run(["python3", root + "/Tests/Scripts/spf_suite.py", root + "/Tests/Fixtures/rfc7208/rfc7208-tests.yml"])
        }
        try #require(converted.status == 0, "\(converted.stderr)")
        let scenarios = try #require(try JSONSerialization.jsonObject(with: Data(converted.stdout.utf8)) as? [[String: Any]])

        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        var passed = 0
        var failures: [String] = []
        for scenario in scenarios {
            let zone = scenario["zone"] as! [String: Any]
            nonisolated(unsafe) let zoneData = zone
            let dns = try await blocking { try TestDNSServer(zone: zoneData) }
            let resolver = SystemDNSResolver(
                configuration: .init(server: "127.0.0.1", port: dns.port, timeout: 1, attempts: 1), threadPool: pool)
            let checker = SPFChecker(resolver: resolver)
            for test in scenario["tests"] as! [[String: Any]] {
                let c = Case(
                    scenario: scenario["description"] as! String, name: test["name"] as! String, spec: test["spec"] as! String,
                    helo: test["helo"] as! String, host: test["host"] as! String, mailFrom: test["mailfrom"] as! String,
                    results: test["results"] as! [String], explanation: test["explanation"] as? String)
                guard let client = IPNetwork.parseAddress(c.host) else {
                    failures.append("\(c.name): bad host \(c.host)")
                    continue
                }
                let outcome = await checker.check(client: client, mailFrom: c.mailFrom, helo: c.helo, receiver: "receiver.test", now: 0)
                var problem: String?
                if !c.results.contains(outcome.result.rawValue) {
                    problem = "got \(outcome.result) (\(outcome.reason ?? "")), the suite wants \(c.results.joined(separator: " or "))"
                } else if let wanted = c.explanation, wanted != "DEFAULT", outcome.result == .fail,
                    // DNS names compare without case: the suite writes ip6.arpa nibbles in upper case.
                    outcome.explanation?.lowercased() != wanted.lowercased()
                {
                    problem = "explanation \"\(outcome.explanation ?? "(none)")\", the suite wants \"\(wanted)\""
                }
                if let problem {
                    failures.append("\(c.scenario) / \(c.name) (RFC 7208 \(c.spec)): \(problem)")
                } else {
                    passed += 1
                }
            }
            withExtendedLifetime(dns) {}
        }
        print("RFC 7208 test suite: \(passed) passed, \(failures.count) failed, of \(passed + failures.count)")
        for failure in failures { print("  FAIL \(failure)") }
        #expect(failures.isEmpty)
        #expect(passed + failures.count == 203)
    }
}
