import MailAuth

/// `[verify]`: what Postie checks of mail from strangers (SPF, DKIM, DMARC, ARC), and whether it
/// acts on the result (docs/authentication.md). Our users' mail and trusted networks' is not
/// checked.
public struct VerifySettings: Sendable, Equatable {
    /// Check, and add `Authentication-Results:` (forged ones claiming our name are removed).
    public var enabled = true
    /// Act on DMARC: `p=reject` failures are refused (`550 5.7.1`), `p=quarantine` ones go to
    /// the Junk folder or are tagged; a DMARC `temperror` is `451 4.7.0`.
    public var enforce = false
    /// What an SPF `fail` alone does when enforcing: nothing (`mark`) or refuse the recipients.
    public var spfFail: SPFFailAction = .mark
    /// Where `p=quarantine` failures go.
    public var quarantine: Quarantine = .junk
    /// Seconds all of one message's lookups may take together; the rest are `temperror`.
    public var timeout: Double = 20
    /// Sealing domains whose passing ARC chain outweighs a DMARC failure (mailing lists and
    /// forwarders trusted to report what they saw).
    public var trustedARCSealers: [String] = []
    /// Domains that choose for themselves (`[domains."x"] verify`): true enforces, false marks.
    public var byDomain: [String: Bool] = [:]
    /// A Public Suffix List file to read instead of the compiled-in one.
    public var publicSuffixList: String?
    /// The list in force.
    public var suffixes = PublicSuffixList.embedded

    public enum SPFFailAction: String, Sendable, Equatable, CaseIterable {
        case mark, reject
    }

    /// Either way the message gets `X-Spam-Flag: YES` (for LMTP and relayed copies, and filters).
    public enum Quarantine: String, Sendable, Equatable, CaseIterable {
        /// Local copies go to the recipient's Maildir++ `.Junk` folder.
        case junk
        /// Local copies go to the inbox, tagged, for the user's filters.
        case tag
    }

    public init() {}

    /// Whether a message to these recipient domains is enforced: only when every one of them
    /// enforces (one reply after DATA cannot refuse a message for some recipients and not others).
    public func enforces(recipientDomains: [String]) -> Bool {
        guard !recipientDomains.isEmpty else { return enforce }
        return recipientDomains.allSatisfy { byDomain[$0.lowercased()] ?? enforce }
    }

    public static func == (a: VerifySettings, b: VerifySettings) -> Bool {
        a.enabled == b.enabled && a.enforce == b.enforce && a.spfFail == b.spfFail && a.quarantine == b.quarantine
            && a.timeout == b.timeout && a.trustedARCSealers == b.trustedARCSealers && a.publicSuffixList == b.publicSuffixList
            && a.byDomain == b.byDomain
    }
}
