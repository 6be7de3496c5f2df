import Crypto
import Foundation

/// Validates a message's ARC chain as it streams in (RFC 8617 §5.2): the sets numbered 1 to N
/// with one `ARC-Seal`, `ARC-Message-Signature` and `ARC-Authentication-Results` each, the newest
/// message signature over the message as it is, and every seal over the sets up to its own. The
/// body is hashed once, for the newest message signature. Pure: the caller looks up the keys
/// (`keyNames`) and gives the time. Written by hand: no Swift ARC library exists.
public struct ARCVerifier: Sendable {
    /// RFC 8617 §4.2.1: a chain longer than this fails.
    public static let maxInstances = 50

    private var capture = HeaderCapture(limit: MessageSigner.headerLimit)
    private var chain: Result<Chain, ARCProblem>?
    private var body: DKIMCanonicalization.BodyHash?

    struct Seal {
        var field: RawHeaderField
        var algorithm: String
        var domain: String
        var selector: String
        var cv: String
        var signature: [UInt8]

        var keyName: String { "\(selector)._domainkey.\(domain)" }
    }

    struct Chain {
        /// Index i-1 holds instance i.
        var seals: [Seal]
        var signatures: [RawHeaderField]
        var results: [RawHeaderField]
        /// The newest message signature, read.
        var newest: DKIMSignatureField
    }

    struct ARCProblem: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    public init() {}

    public mutating func update(_ bytes: some Collection<UInt8>) {
        let inHeader = capture.section == nil
        guard let rest = capture.add(bytes) else { return }
        if inHeader { readChain() }
        body?.update(rest)
    }

    /// The end of the data: a message without a body has its header section end here.
    public mutating func endOfData() {
        if capture.section == nil {
            capture.end()
            readChain()
        }
    }

    /// The keys to look up once the header section has ended: the newest message signature's and
    /// every seal's.
    public var keyNames: [String] {
        guard case .success(let chain)? = chain else { return [] }
        var names = [chain.newest.keyName]
        for seal in chain.seals where !names.contains(seal.keyName) { names.append(seal.keyName) }
        return names
    }

    private mutating func readChain() {
        guard let fields = capture.section?.fields else { return }
        chain = Self.read(fields)
        if case .success(let c)? = chain {
            body = DKIMCanonicalization.BodyHash(c.newest.bodyCanonicalization, limit: c.newest.bodyLength)
        }
    }

    /// The sets, checked for shape (§5.2 steps 1–3); nil when the message has none.
    static func read(_ fields: [RawHeaderField]) -> Result<Chain, ARCProblem>? {
        var seals: [Int: RawHeaderField] = [:]
        var signatures: [Int: RawHeaderField] = [:]
        var results: [Int: RawHeaderField] = [:]
        var any = false
        for field in fields {
            let name = field.name.lowercased()
            guard name == "arc-seal" || name == "arc-message-signature" || name == "arc-authentication-results" else { continue }
            any = true
            guard let instance = instance(of: field, results: name == "arc-authentication-results") else {
                return .failure(ARCProblem("\(field.name) without a valid i="))
            }
            guard (1...maxInstances).contains(instance) else { return .failure(ARCProblem("instance i=\(instance) out of range")) }
            let previous: RawHeaderField?
            switch name {
            case "arc-seal": previous = seals.updateValue(field, forKey: instance)
            case "arc-message-signature": previous = signatures.updateValue(field, forKey: instance)
            default: previous = results.updateValue(field, forKey: instance)
            }
            if previous != nil { return .failure(ARCProblem("two \(field.name) fields with i=\(instance)")) }
        }
        guard any else { return nil }
        let count = seals.keys.max() ?? 0
        for i in 1...max(1, count) where seals[i] == nil || signatures[i] == nil || results[i] == nil {
            return .failure(ARCProblem("set i=\(i) is incomplete"))
        }
        guard signatures.count == count, results.count == count else { return .failure(ARCProblem("sets beyond the newest seal")) }
        var read: [Seal] = []
        for i in 1...count {
            let field = seals[i]!
            let tags = DKIMTags(field.value)
            guard let a = tags["a"]?.lowercased(), a == "rsa-sha256" || a == "ed25519-sha256",
                let d = tags["d"]?.lowercased(), !d.isEmpty, let s = tags["s"], !s.isEmpty, let cv = tags["cv"]?.lowercased(),
                let b = tags["b"].flatMap(DKIMSignatureField.base64), !b.isEmpty
            else { return .failure(ARCProblem("ARC-Seal i=\(i) is malformed")) }
            if tags["h"] != nil { return .failure(ARCProblem("ARC-Seal i=\(i) has h=")) }
            read.append(Seal(field: field, algorithm: a, domain: d, selector: s, cv: cv, signature: b))
        }
        // §5.2 step 2–3: the newest seal says whether the chain had failed already; the first
        // set starts it (cv=none), every later one says it passed.
        if read[count - 1].cv == "fail" { return .failure(ARCProblem("the chain had failed before (cv=fail)")) }
        for (index, seal) in read.enumerated() where seal.cv != (index == 0 ? "none" : "pass") {
            return .failure(ARCProblem("ARC-Seal i=\(index + 1) has cv=\(seal.cv)"))
        }
        let newest: DKIMSignatureField
        switch DKIMSignatureField.parse(signatures[count]!, arc: true) {
        case .success(let s): newest = s
        case .failure(let problem): return .failure(ARCProblem("ARC-Message-Signature i=\(count): \(problem)"))
        }
        return .success(
            Chain(
                seals: read, signatures: (1...count).map { signatures[$0]! }, results: (1...count).map { results[$0]! }, newest: newest))
    }

    /// The `i=` of a set's field: a tag of a seal or message signature, the start of a results field.
    static func instance(of field: RawHeaderField, results: Bool) -> Int? {
        if results {
            let text = String(decoding: field.value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let semicolon = text.firstIndex(of: ";") else { return nil }
            let pair = text[..<semicolon].split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard pair.count == 2, pair[0] == "i" else { return nil }
            return Int(pair[1])
        }
        return DKIMTags(field.value)["i"].flatMap { Int($0) }
    }

    /// The chain's verdict (§5.2 steps 4–6).
    public consuming func finish(keys: [String: DKIMKeyAnswer], now: Int64) -> ARCOutcome {
        if capture.section == nil {
            capture.end()
            readChain()
        }
        guard let chain else { return ARCOutcome(result: .none) }
        let c: Chain
        switch chain {
        case .failure(let problem): return ARCOutcome(result: .fail, reason: problem.reason)
        case .success(let read): c = read
        }
        let count = c.seals.count
        let sealers = c.seals.map(\.domain)
        func fail(_ reason: String) -> ARCOutcome { ARCOutcome(result: .fail, reason: reason, instances: count, sealers: sealers) }
        // The newest message signature, as a DKIM signature of the message as it is.
        let bodyHash = body?.finish() ?? []
        let ams = DKIMVerifier.verify(c.newest, fields: capture.section?.fields ?? [], bodyHash: bodyHash, key: keys[c.newest.keyName], now: now)
        guard ams.verdict == .pass else { return fail("ARC-Message-Signature i=\(count): \(ams.reason ?? ams.verdict.rawValue)") }
        // Each seal over the sets up to its own, oldest first, in relaxed form (§5.1.1).
        for i in stride(from: count, through: 1, by: -1) {
            let seal = c.seals[i - 1]
            var input: [UInt8] = []
            for j in 1...i {
                input += DKIMCanonicalization.relaxedHeader(c.results[j - 1])
                input += DKIMCanonicalization.relaxedHeader(c.signatures[j - 1])
                if j < i { input += DKIMCanonicalization.relaxedHeader(c.seals[j - 1].field) }
            }
            input += DKIMCanonicalization.relaxedHeader(seal.field.withoutSignatureValue).dropLast(2)
            let record: DKIMKeyRecord
            switch DKIMVerifier.readKey(keys[seal.keyName], name: seal.keyName, algorithm: seal.algorithm) {
            case .failure(let problem): return fail("ARC-Seal i=\(i): \(problem.reason)")
            case .success(let r): record = r
            }
            let (verdict, reason) = DKIMVerifier.check(seal.signature, over: input, key: record)
            guard verdict == .pass else { return fail("ARC-Seal i=\(i): \(reason ?? verdict.rawValue)") }
        }
        return ARCOutcome(result: .pass, instances: count, sealers: sealers)
    }
}
