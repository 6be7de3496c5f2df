/// The Public Suffix List's algorithm (https://publicsuffix.org/list/): the public suffix of a
/// name is its longest matching rule, exception rules (`!`) first, wildcards (`*.`) matching one
/// label, and `*` when none matches. DMARC's organizational domain is the public suffix and one
/// label more (RFC 7489 §3.2). The list is compiled in (`PublicSuffixRules.swift`, refreshed by
/// `tools/refresh-public-suffix-list`); a newer file can be read instead.
public struct PublicSuffixList: Sendable {
    private var rules: Set<String> = []
    private var wildcards: Set<String> = []
    private var exceptions: Set<String> = []

    /// The list compiled into Postie.
    public static let embedded = PublicSuffixList(rules: embeddedRules)

    /// Reads a list in its published form (one rule a line, `//` comments, the first word counts).
    public init(rules text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            guard let word = line.split(whereSeparator: \.isWhitespace).first, !word.hasPrefix("//") else { continue }
            let rule = word.lowercased()
            if rule.hasPrefix("!") {
                exceptions.insert(String(rule.dropFirst()))
            } else if rule.hasPrefix("*.") {
                wildcards.insert(String(rule.dropFirst(2)))
            } else {
                rules.insert(rule)
            }
        }
    }

    /// The rules read (each kind counted).
    public var count: Int { rules.count + wildcards.count + exceptions.count }

    /// The public suffix of a domain name (lower case, no trailing dot); nil for an empty name.
    public func publicSuffix(of domain: String) -> String? {
        let labels = Self.labels(domain)
        guard !labels.isEmpty else { return nil }
        // From the longest candidate down, so the first match is the longest.
        for start in 0..<labels.count {
            let candidate = labels[start...].joined(separator: ".")
            // An exception rule: its parent is the suffix.
            if exceptions.contains(candidate) { return labels[(start + 1)...].joined(separator: ".") }
            if rules.contains(candidate) { return candidate }
            if start + 1 < labels.count, wildcards.contains(labels[(start + 1)...].joined(separator: ".")) { return candidate }
        }
        // The implicit rule "*": the last label.
        return labels.last
    }

    /// The organizational domain (RFC 7489 §3.2): the public suffix and one label more; a name that
    /// is itself a public suffix is its own.
    public func organizationalDomain(of domain: String) -> String {
        let labels = Self.labels(domain)
        guard let suffix = publicSuffix(of: domain) else { return "" }
        let suffixLabels = suffix.split(separator: ".").count
        guard labels.count > suffixLabels else { return labels.joined(separator: ".") }
        return labels.suffix(suffixLabels + 1).joined(separator: ".")
    }

    static func labels(_ domain: String) -> [String] {
        var name = domain.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name.split(separator: ".", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }
}
