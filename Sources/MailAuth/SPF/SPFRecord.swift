import Foundation
import MailCore
import SMTPCore

/// A text with SPF macros (RFC 7208 §7.1): literals and `%{…}` expansions, checked when the record
/// is read so that a bad macro is a `permerror` before any lookup.
public struct SPFMacroString: Sendable, Equatable, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case literal(String)
        /// `%{` letter, rightmost-parts count, reversal, delimiters `}`; an upper-case letter asks for
        /// URL escaping of the value.
        case macro(letter: Character, escaped: Bool, parts: Int?, reversed: Bool, delimiters: [Character])
    }

    public var parts: [Part]
    /// The text as written.
    public var description: String

    /// The letters for every macro-string; `c`, `r` and `t` only in explanations (§7.2).
    static let letters: Set<Character> = ["s", "l", "o", "d", "i", "p", "h", "v"]
    static let explanationLetters: Set<Character> = letters.union(["c", "r", "t"])
    static let delimiters: Set<Character> = [".", "-", "+", ",", "/", "_", "="]

    /// Reads a macro-string; `explanation` allows `c`, `r`, `t` and spaces (an explain-string).
    public static func parse(_ text: Substring, explanation: Bool = false) -> Result<SPFMacroString, SPFProblem> {
        var parts: [Part] = []
        var literal = ""
        var i = text.startIndex
        func flush() {
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
        }
        while i < text.endIndex {
            let c = text[i]
            guard c.isASCII, let v = c.asciiValue, v >= 0x20, v < 0x7F, v != 0x20 || explanation else {
                return .failure(SPFProblem("character \(c.unicodeScalars.first.map { "U+\(String($0.value, radix: 16, uppercase: true))" } ?? "?") in \"\(text)\""))
            }
            guard c == "%" else {
                literal.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            guard next < text.endIndex else { return .failure(SPFProblem("a lone % ends \"\(text)\"")) }
            switch text[next] {
            case "%": literal.append("%")
            case "_": literal.append(" ")
            case "-": literal.append("%20")
            case "{":
                guard let close = text[next...].firstIndex(of: "}") else { return .failure(SPFProblem("unclosed %{ in \"\(text)\"")) }
                let body = text[text.index(after: next)..<close]
                guard let first = body.first else { return .failure(SPFProblem("empty %{} in \"\(text)\"")) }
                let letter = Character(first.lowercased())
                guard (explanation ? explanationLetters : letters).contains(letter) else {
                    return .failure(SPFProblem("unknown macro letter %{\(first)} in \"\(text)\""))
                }
                var rest = body.dropFirst()
                let digits = rest.prefix { $0.isASCII && $0.isNumber }
                rest = rest.dropFirst(digits.count)
                var count: Int?
                if !digits.isEmpty {
                    // At least one part; more than 128 is the same as 128 (§7.3).
                    guard let n = Int(digits.prefix(4)), n > 0 else { return .failure(SPFProblem("a zero part count in \"\(text)\"")) }
                    count = min(n, 128)
                }
                var reversed = false
                if rest.first == "r" || rest.first == "R" {
                    reversed = true
                    rest = rest.dropFirst()
                }
                guard rest.allSatisfy(delimiters.contains) else { return .failure(SPFProblem("bad macro %{\(body)} in \"\(text)\"")) }
                flush()
                parts.append(.macro(letter: letter, escaped: first.isUppercase, parts: count, reversed: reversed, delimiters: Array(rest)))
                i = text.index(after: close)
                continue
            default:
                return .failure(SPFProblem("bad macro %\(text[next]) in \"\(text)\""))
            }
            i = text.index(after: next)
        }
        flush()
        return .success(SPFMacroString(parts: parts, description: String(text)))
    }

    /// Whether the string is a domain-spec: it ends with "." and a top label, or with a macro
    /// (§4.6.1: `domain-end`; checked before expansion, never after).
    var isDomainSpec: Bool {
        guard let last = parts.last else { return false }
        guard case .literal(var tail) = last else { return true }
        if tail.hasSuffix(".") { tail.removeLast() }
        guard let dot = tail.lastIndex(of: ".") else { return false }
        return Self.isTopLabel(tail[tail.index(after: dot)...])
    }

    /// `toplabel`: letters and digits with one letter at least, or with inner hyphens.
    static func isTopLabel(_ label: Substring) -> Bool {
        guard !label.isEmpty, label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
        if label.contains("-") { return label.first != "-" && label.last != "-" }
        return label.contains { $0.isLetter }
    }
}

/// Why a record cannot be used (`permerror`), in words.
public struct SPFProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An SPF record read (RFC 7208 §4.6, §5, §6): its directives in order and the two modifiers
/// that mean something. Unknown modifiers are checked for syntax and left out.
public struct SPFRecord: Sendable, Equatable {
    public enum Qualifier: Character, Sendable {
        case pass = "+", fail = "-", softfail = "~", neutral = "?"

        public var result: SPFResult {
            switch self {
            case .pass: return .pass
            case .fail: return .fail
            case .softfail: return .softfail
            case .neutral: return .neutral
            }
        }
    }

    public enum Mechanism: Sendable, Equatable {
        case all
        case include(SPFMacroString)
        /// The domain (the current one when nil) and the IPv4 and IPv6 prefix lengths.
        case a(SPFMacroString?, ipv4: Int, ipv6: Int)
        case mx(SPFMacroString?, ipv4: Int, ipv6: Int)
        case ptr(SPFMacroString?)
        case ip4([UInt8], Int)
        case ip6([UInt8], Int)
        case exists(SPFMacroString)

        /// Whether evaluating it queries DNS (and so counts toward the limit of 10, §4.6.4).
        var looksUp: Bool {
            switch self {
            case .all, .ip4, .ip6: return false
            default: return true
            }
        }
    }

    public struct Directive: Sendable, Equatable {
        public var qualifier: Qualifier
        public var mechanism: Mechanism
        /// The term as written, for logs and Received-SPF.
        public var text: String
    }

    public var directives: [Directive]
    public var redirect: SPFMacroString?
    public var explanation: SPFMacroString?

    /// Whether a TXT record is an SPF record: `v=spf1`, any case, then a space or the end (§4.5).
    public static func isSPF(_ record: [UInt8]) -> Bool {
        guard record.count >= 6, String(decoding: record.prefix(6), as: UTF8.self).lowercased() == "v=spf1" else { return false }
        return record.count == 6 || record[6] == 0x20
    }

    /// Reads a record (already known to start with `v=spf1`); any syntax error is the reason for
    /// `permerror`.
    public static func parse(_ record: [UInt8]) -> Result<SPFRecord, SPFProblem> {
        guard isSPF(record) else { return .failure(SPFProblem("not an SPF record")) }
        guard let text = String(validating: record.dropFirst(6), as: UTF8.self) else {
            return .failure(SPFProblem("the record is not UTF-8"))
        }
        var result = SPFRecord(directives: [], redirect: nil, explanation: nil)
        for term in text.split(separator: " ") {
            switch parseTerm(term) {
            case .failure(let problem): return .failure(problem)
            case .success(.directive(let d)): result.directives.append(d)
            case .success(.redirect(let m)):
                guard result.redirect == nil else { return .failure(SPFProblem("redirect= appears twice")) }
                result.redirect = m
            case .success(.explanation(let m)):
                guard result.explanation == nil else { return .failure(SPFProblem("exp= appears twice")) }
                result.explanation = m
            case .success(.unknownModifier): break
            }
        }
        return .success(result)
    }

    enum Term {
        case directive(Directive)
        case redirect(SPFMacroString)
        case explanation(SPFMacroString)
        case unknownModifier
    }

    static func parseTerm(_ term: Substring) -> Result<Term, SPFProblem> {
        // A modifier is a name then "="; the name starts with a letter (§4.6.1).
        let name = term.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        if let first = name.first, first.isLetter, term.dropFirst(name.count).first == "=" {
            let value = term.dropFirst(name.count + 1)
            switch name.lowercased() {
            case "redirect", "exp":
                guard case .success(let spec) = SPFMacroString.parse(value), spec.isDomainSpec else {
                    return .failure(SPFProblem("bad domain in \(term)"))
                }
                return .success(name.lowercased() == "redirect" ? .redirect(spec) : .explanation(spec))
            default:
                if case .failure(let problem) = SPFMacroString.parse(value) { return .failure(problem) }
                return .success(.unknownModifier)
            }
        }
        var rest = term
        var qualifier = Qualifier.pass
        if let q = rest.first.flatMap(Qualifier.init(rawValue:)) {
            qualifier = q
            rest = rest.dropFirst()
        }
        let word = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber) }.lowercased()
        var argument = rest.dropFirst(word.count)
        func done(_ m: Mechanism) -> Result<Term, SPFProblem> { .success(.directive(Directive(qualifier: qualifier, mechanism: m, text: String(term)))) }
        let bad = SPFProblem("bad term \(term)")
        switch word {
        case "all":
            return argument.isEmpty ? done(.all) : .failure(bad)
        case "include", "exists":
            guard argument.first == ":", case .success(let spec) = SPFMacroString.parse(argument.dropFirst()), spec.isDomainSpec else {
                return .failure(bad)
            }
            return done(word == "include" ? .include(spec) : .exists(spec))
        case "a", "mx":
            guard let (v4, v6, cut) = dualCIDR(argument) else { return .failure(bad) }
            argument = argument[..<cut]
            var spec: SPFMacroString?
            if !argument.isEmpty {
                guard argument.first == ":", case .success(let s) = SPFMacroString.parse(argument.dropFirst()), s.isDomainSpec else {
                    return .failure(bad)
                }
                spec = s
            }
            return done(word == "a" ? .a(spec, ipv4: v4, ipv6: v6) : .mx(spec, ipv4: v4, ipv6: v6))
        case "ptr":
            if argument.isEmpty { return done(.ptr(nil)) }
            guard argument.first == ":", case .success(let s) = SPFMacroString.parse(argument.dropFirst()), s.isDomainSpec else {
                return .failure(bad)
            }
            return done(.ptr(s))
        case "ip4", "ip6":
            guard argument.first == ":" else { return .failure(bad) }
            argument = argument.dropFirst()
            let maximum = word == "ip4" ? 32 : 128
            var length = maximum
            if let slash = argument.firstIndex(of: "/") {
                guard let n = cidrLength(argument[argument.index(after: slash)...], maximum: maximum) else { return .failure(bad) }
                length = n
                argument = argument[..<slash]
            }
            if word == "ip4" {
                guard AddressGrammar.isIPv4(String(argument)), let bytes = IPNetwork.parseAddress(String(argument)) else { return .failure(bad) }
                return done(.ip4(bytes, length))
            }
            guard argument.contains(":"), let bytes = IPNetwork.parseAddress(String(argument)), bytes.count == 16 else { return .failure(bad) }
            return done(.ip6(bytes, length))
        default:
            return .failure(SPFProblem("unknown mechanism \(term)"))
        }
    }

    /// The `/n` and `//m` at the end of an `a` or `mx` term, and where they start.
    static func dualCIDR(_ argument: Substring) -> (Int, Int, Substring.Index)? {
        var cut = argument.endIndex
        var v4 = 32, v6 = 128
        if let range = argument.range(of: "//", options: .backwards),
            argument[range.upperBound...].allSatisfy({ $0.isASCII && $0.isNumber })
        {
            guard let n = cidrLength(argument[range.upperBound...], maximum: 128) else { return nil }
            v6 = n
            cut = range.lowerBound
        }
        let head = argument[..<cut]
        if let slash = head.lastIndex(of: "/"), head[head.index(after: slash)...].allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let n = cidrLength(head[head.index(after: slash)...], maximum: 32) else { return nil }
            v4 = n
            cut = slash
        }
        return (v4, v6, cut)
    }

    /// A prefix length: digits without a leading zero (but "0"), at most `maximum`.
    static func cidrLength(_ text: Substring, maximum: Int) -> Int? {
        guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }), text == "0" || text.first != "0",
            let n = Int(text), n <= maximum
        else { return nil }
        return n
    }
}
