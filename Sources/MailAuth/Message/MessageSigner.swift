import MailCore

/// Signs one message as it streams in, with DKIM (mail from our users) or with an ARC set (mail
/// we forward): the header section is kept (up to `headerLimit` octets), the body only hashed, so
/// a large message is never held or read twice. Which keys sign is known once the header section
/// has ended (the `From:` domain's); `plannedLength` then tells how many octets the fields will
/// take, so that a writer can leave room for them before the message; `finish` makes them.
public struct MessageSigner: Sendable {
    /// The signers of a domain (two for dual signing), by `From:` domain in lower case.
    public typealias KeyLookup = @Sendable (String) -> [DKIMSigner]

    /// Why a message goes unsigned (logged; the message is sent all the same).
    public enum Skip: Error, Equatable, Sendable, CustomStringConvertible {
        case noFrom
        /// Several From addresses in different domains, or one that cannot be read.
        case unclearFrom
        case noKey(domain: String)
        case alreadySigned
        /// The message's ARC chain did not pass validation (only a passing one is extended).
        case arcChainFailed
        case headerTooLarge
        case failed(String)

        public var description: String {
            switch self {
            case .noFrom: "no From: field"
            case .unclearFrom: "From: does not name one domain"
            case .noKey(let domain): "no DKIM key for \(domain)"
            case .alreadySigned: "already signed by us"
            case .arcChainFailed: "its ARC chain did not validate"
            case .headerTooLarge: "header section too large to sign"
            case .failed(let why): "signing failed: \(why)"
            }
        }
    }

    /// Header sections larger than this are not signed (mail that big in its header is not
    /// mail a person wrote).
    public static let headerLimit = 256 * 1024

    /// What the message gets: DKIM signatures by its `From:` domain's keys, or an ARC set.
    public enum Mode: Sendable {
        case dkim(KeyLookup)
        /// The sealer, and the results the AAR records.
        case arc(ARCSealer, results: String)
    }

    private let mode: Mode
    private var capture = HeaderCapture(limit: MessageSigner.headerLimit)
    private var section: RawHeaderSection? { capture.section }
    private var body = DKIMCanonicalization.RelaxedBodyHash()
    /// The signers chosen when the header section ended (none for an ARC seal), and why the
    /// message is not signed.
    private var decision: Result<[DKIMSigner], Skip>?

    public init(keys: @escaping KeyLookup) {
        self.init(.dkim(keys))
    }

    public init(_ mode: Mode) {
        self.mode = mode
    }

    /// Message data, in order, as it arrives (CRLF line endings, no dot-stuffing).
    public mutating func update(_ bytes: some Collection<UInt8>) {
        let inHeader = capture.section == nil
        guard let body = capture.add(bytes) else {
            if capture.tooLarge, decision == nil { decision = .failure(.headerTooLarge) }
            return
        }
        self.body.update(body)
        if inHeader { decide() }
    }

    private mutating func decide() {
        guard let fields = section?.fields else { return }
        let keys: KeyLookup
        switch mode {
        case .arc:
            decision = ARCSealer.existingSets(fields) == nil ? .failure(.arcChainFailed) : .success([])
            return
        case .dkim(let lookup): keys = lookup
        }
        let froms = fields.filter { $0.name.lowercased() == "from" }
        guard !froms.isEmpty else {
            decision = .failure(.noFrom)
            return
        }
        // The same reading of From: as the check of an authenticated user's From:.
        var domains = Set<String>()
        for from in froms {
            for address in MessageHeaders.addresses(in: String(decoding: from.value, as: UTF8.self)) {
                guard let at = address.lastIndex(of: "@") else { continue }
                domains.insert(address[address.index(after: at)...].trimmingCharacters(in: .whitespacesAndNewlines).lowercased())
            }
        }
        guard domains.count == 1, let domain = domains.first, !domain.isEmpty else {
            decision = .failure(.unclearFrom)
            return
        }
        let all = keys(domain)
        let signers = all.filter { !$0.hasSigned(fields) }
        if signers.isEmpty {
            decision = .failure(all.isEmpty ? .noKey(domain: domain) : .alreadySigned)
        } else {
            decision = .success(signers)
        }
    }

    /// Known once the header section has ended: the signers, or why there are none.
    public var signers: Result<[DKIMSigner], Skip>? {
        decision
    }

    /// The octets the signature fields will take when signed at `time`, once the signers are
    /// known (nil before, or when nothing will be signed).
    public func plannedLength(time: Int64) -> Int? {
        guard case .success(let signers)? = decision, let fields = section?.fields else { return nil }
        if case .arc(let sealer, let results) = mode { return sealer.sealLength(fields: fields, results: results, time: time) }
        return signers.reduce(0) { $0 + $1.signatureFieldLength(fields: fields, time: time) }
    }

    /// The signature fields, each signature over the message as the others leave it (the last
    /// signer's field first); or why the message goes unsigned. Call once the data has ended.
    /// `results`: for an ARC seal, what the AAR records, when known only now (the mode's results
    /// then only planned the length). `chain`: for a message with ARC sets, what validating them
    /// found; the chain is extended only when it passed.
    public consuming func finish(time: Int64, results: String? = nil, chain: ARCOutcome? = nil) -> Result<[UInt8], Skip> {
        if decision == nil {
            capture.end()
            decide()
        }
        guard let decision else { return .failure(.noFrom) }
        switch decision {
        case .failure(let skip): return .failure(skip)
        case .success(let signers):
            let bodyHash = body.finish()
            var fields = section!.fields
            var out: [UInt8] = []
            do {
                if case .arc(let sealer, let planned) = mode {
                    if ARCSealer.hasChain(fields), chain?.result != .pass { return .failure(.arcChainFailed) }
                    return .success(try sealer.seal(fields: fields, bodyHash: bodyHash, results: results ?? planned, time: time))
                }
                for signer in signers {
                    let field = try signer.signatureField(fields: fields, bodyHash: bodyHash, time: time)
                    out = field + out
                    fields.insert(RawHeaderField(name: "DKIM-Signature", octets: Array(field.dropLast(2))), at: 0)
                }
            } catch {
                return .failure(.failed("\(error)"))
            }
            return .success(out)
        }
    }

    /// A header field of exactly `octets` octets (at least 20), CRLF included, for room left for
    /// a signature that could not be made: `X-Postie-Filler:` and dots, folded into short lines.
    public static func filler(octets: Int) -> [UInt8] {
        precondition(octets >= 20, "a filler needs 20 octets")
        var out = Array("X-Postie-Filler: ".utf8)
        var left = octets - out.count - 2
        var column = out.count
        while left > 0 {
            // Fold before the line grows long, when the next line can still hold a dot.
            if column >= 76 && left >= 4 {
                out += [13, 10, 9]
                left -= 3
                column = 1
                continue
            }
            out.append(UInt8(ascii: "."))
            left -= 1
            column += 1
        }
        return out + [13, 10]
    }
}
