import MailAuth
import Postie
import SMTPCore
import Testing

@testable import Postie

/// What enforcing does with each DMARC and ARC outcome (MessageVerification.action, pure).
@Suite struct VerificationPolicyTests {
    static func dmarc(_ result: DMARCOutcome.Result, _ disposition: DMARCRecord.Policy) -> DMARCOutcome {
        DMARCOutcome(result: result, fromDomain: "bank.test", requestedPolicy: disposition, disposition: disposition, reason: "no DKIM signature")
    }

    static func settings(enforce: Bool, trusted: [String] = []) -> VerifySettings {
        var s = VerifySettings()
        s.enforce = enforce
        s.trustedARCSealers = trusted
        return s
    }

    static func code(_ action: MessageVerification.Verdict.Action) -> String {
        switch action {
        case .accept: return "accept"
        case .quarantine: return "quarantine"
        case .refuse(let reply): return "\(reply.code)"
        }
    }

    @Test func enforcingFollowsTheDomainsPolicy() {
        let on = Self.settings(enforce: true)
        let none = ARCOutcome(result: .none)
        #expect(Self.code(MessageVerification.action(Self.dmarc(.fail, .reject), arc: none, settings: on)) == "550")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.fail, .quarantine), arc: none, settings: on)) == "quarantine")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.fail, .none), arc: none, settings: on)) == "accept")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.temperror, .none), arc: none, settings: on)) == "451")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.pass, .reject), arc: none, settings: on)) == "accept")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.permerror, .none), arc: none, settings: on)) == "accept")
        // Not enforcing: everything is accepted (and marked).
        let off = Self.settings(enforce: false)
        #expect(Self.code(MessageVerification.action(Self.dmarc(.fail, .reject), arc: none, settings: off)) == "accept")
        #expect(Self.code(MessageVerification.action(Self.dmarc(.temperror, .none), arc: none, settings: off)) == "accept")
    }

    @Test func aTrustedSealersPassingChainOutweighsADMARCFailure() {
        let settings = Self.settings(enforce: true, trusted: ["lists.example.net"])
        let failing = Self.dmarc(.fail, .reject)
        let trusted = ARCOutcome(result: .pass, instances: 2, sealers: ["origin.test", "lists.example.net"])
        #expect(Self.code(MessageVerification.action(failing, arc: trusted, settings: settings)) == "accept")
        // The newest seal must be the trusted one's, and the chain must pass.
        let olderOnly = ARCOutcome(result: .pass, instances: 2, sealers: ["lists.example.net", "other.test"])
        #expect(Self.code(MessageVerification.action(failing, arc: olderOnly, settings: settings)) == "550")
        let broken = ARCOutcome(result: .fail, instances: 1, sealers: ["lists.example.net"])
        #expect(Self.code(MessageVerification.action(failing, arc: broken, settings: settings)) == "550")
    }

    @Test func theRefusalNamesTheDomainAndWhy() {
        let action = MessageVerification.action(Self.dmarc(.fail, .reject), arc: ARCOutcome(result: .none), settings: Self.settings(enforce: true))
        guard case .refuse(let reply) = action else {
            Issue.record("not refused")
            return
        }
        #expect(reply.enhancedCode?.description == "5.7.1")
        #expect(reply.lines.joined().contains("bank.test"))
        #expect(reply.lines.joined().contains("no DKIM signature"))
    }
}
