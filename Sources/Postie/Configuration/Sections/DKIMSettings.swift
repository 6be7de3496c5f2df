import MailAuth

/// `[dkim]`: the keys that sign mail from our users, by the domain of its `From:` field
/// (docs/authentication.md).
public struct DKIMSettings: Sendable {
    /// One key of a domain: its selector, the file it was read from, and the key.
    public struct Key: Sendable {
        public var selector: String
        public var file: String
        public var key: DKIMKey

        public init(selector: String, file: String, key: DKIMKey) {
            self.selector = selector
            self.file = file
            self.key = key
        }
    }

    /// Keys by signing domain (lower case). Every key of a domain signs (two: dual signing).
    public var domains: [String: [Key]] = [:]
    /// `[dkim."…"] key_dir` as written, by domain (nil: `<data_dir>/dkim/<domain>`).
    public var keyDirectories: [String: String] = [:]
    /// Seconds a signature stays valid (`x=`); 0: no expiry.
    public var expiry = 0

    public init() {}

    /// The signers for mail whose `From:` is in `domain`: its own keys, else those of the nearest
    /// parent domain that has some (`d=example.com` for `From: …@mx.example.com`, which DMARC's
    /// relaxed alignment accepts).
    public func signers(for domain: String) -> [DKIMSigner] {
        var name = Substring(domain.lowercased())
        while name.contains(".") {
            if let keys = domains[String(name)] {
                return keys.map { DKIMSigner(domain: String(name), selector: $0.selector, key: $0.key, expiry: expiry > 0 ? expiry : nil) }
            }
            name = name[name.index(after: name.firstIndex(of: ".")!)...]
        }
        return []
    }
}
