import Crypto

/// DKIM's canonicalizations (RFC 6376 §3.4): "relaxed", the one Postie signs with (it survives the
/// re-folding and whitespace changes that relays make), and "simple", which others sign with and
/// a verifier must read. Written by hand: no Swift library canonicalizes DKIM.
public enum DKIMCanonicalization {
    /// A `c=` half: how the header or the body is canonicalized.
    public enum Kind: String, Sendable {
        case simple, relaxed

        /// A header field in this canonicalization, with CRLF.
        public func header(_ field: RawHeaderField) -> [UInt8] {
            self == .relaxed ? DKIMCanonicalization.relaxedHeader(field) : DKIMCanonicalization.simpleHeader(field)
        }
    }

    /// What a signature's header hash is over (RFC 6376 §3.7, RFC 8617 §5.1.1): the fields
    /// `names` chooses (each the last instance not yet taken), then the signature field itself
    /// with its `b=` empty, without its final CRLF — all in one canonicalization. The signer, the
    /// verifier and the ARC seal all hash this.
    public static func headerInput(_ fields: [RawHeaderField], names: [String], signature: RawHeaderField, _ kind: Kind) -> [UInt8] {
        var input: [UInt8] = []
        for field in DKIMSigner.select(names, from: fields) { input += kind.header(field) }
        input += kind.header(signature).dropLast(2)
        return input
    }

    static func isWSP(_ b: UInt8) -> Bool { b == 32 || b == 9 }

    /// A header field, relaxed: the name in lower case, the value unfolded, runs of whitespace as
    /// one space, none at either end of the value or before the colon; ends with CRLF.
    public static func relaxedHeader(_ field: RawHeaderField) -> [UInt8] {
        var out = Array(field.name.lowercased().utf8)
        // Whitespace between the name and the colon goes too (§3.4.2).
        while let last = out.last, isWSP(last) { out.removeLast() }
        out.append(UInt8(ascii: ":"))
        var space = false
        var started = false
        for b in field.value {
            if b == 13 || b == 10 { continue }  // unfolding
            if isWSP(b) {
                space = true
                continue
            }
            if space && started { out.append(32) }
            space = false
            started = true
            out.append(b)
        }
        out += [13, 10]
        return out
    }

    /// The relaxed body, hashed as it streams by (no copy of the body is kept): whitespace at the
    /// end of a line goes, runs of it within a line become one space, empty lines at the end go,
    /// and a body that does not end with CRLF gets one. An empty body hashes nothing.
    public struct RelaxedBodyHash: Sendable {
        private var out: HashSink
        /// Empty lines seen and not yet written: written before the next line with content, never
        /// if the body ends first.
        private var blankLines = 0
        private var pendingSpace = false
        private var lineHasContent = false
        private var pendingCR = false

        /// `limit`: hash only the first octets of the canonical body (a signature's `l=`).
        public init(limit: Int? = nil) { out = HashSink(limit: limit) }

        public mutating func update(_ bytes: some Sequence<UInt8>) {
            if bytes.withContiguousStorageIfAvailable({ process($0) }) == nil {
                Array(bytes).withUnsafeBufferPointer { process($0) }
            }
            out.flush()
        }

        /// Octets other than CR, LF, space and tab go over in runs; those four one at a time.
        private mutating func process(_ buffer: UnsafeBufferPointer<UInt8>) {
            var i = 0
            while i < buffer.count {
                let b = buffer[i]
                if pendingCR || b == 13 || b == 10 || b == 32 || b == 9 {
                    take(b)
                    i += 1
                    continue
                }
                var end = i + 1
                while end < buffer.count {
                    let c = buffer[end]
                    if c == 13 || c == 10 || c == 32 || c == 9 { break }
                    end += 1
                }
                content(b)
                out.append(UnsafeBufferPointer(rebasing: buffer[(i + 1)..<end]))
                i = end
            }
        }

        private mutating func take(_ b: UInt8) {
            if pendingCR {
                pendingCR = false
                if b == 10 {
                    endLine()
                    return
                }
                // A CR that ends no line is content.
                content(13)
            }
            switch b {
            case 13: pendingCR = true
            case 10: endLine()  // a bare LF ends a line too
            case 32, 9: pendingSpace = true
            default: content(b)
            }
        }

        private mutating func content(_ b: UInt8) {
            if !lineHasContent {
                for _ in 0..<blankLines { out.append(DKIMCanonicalization.crlf) }
                blankLines = 0
            }
            if pendingSpace { out.append(32) }
            pendingSpace = false
            lineHasContent = true
            out.append(b)
        }

        private mutating func endLine() {
            pendingSpace = false
            if lineHasContent {
                out.append(DKIMCanonicalization.crlf)
                lineHasContent = false
            } else {
                blankLines += 1
            }
        }

        /// The SHA-256 of the canonical body.
        public consuming func finish() -> [UInt8] {
            if pendingCR { content(13) }
            if lineHasContent { out.append(DKIMCanonicalization.crlf) }
            return out.finish()
        }
    }

    /// A header field, simple (§3.4.1): as it is, with CRLF.
    public static func simpleHeader(_ field: RawHeaderField) -> [UInt8] {
        field.octets + [13, 10]
    }

    /// The simple body (§3.4.3), hashed as it streams by: empty lines at the end go; a body
    /// without a final CRLF gets one, and an empty body is one CRLF.
    public struct SimpleBodyHash: Sendable {
        private var out: HashSink
        /// Empty lines at the end so far: written only if content follows.
        private var heldLines = 0
        private var lineOpen = false
        private var pendingCR = false
        private var wroteAny = false

        /// `limit`: hash only the first octets of the canonical body (a signature's `l=`).
        public init(limit: Int? = nil) { out = HashSink(limit: limit) }

        public mutating func update(_ bytes: some Sequence<UInt8>) {
            for b in bytes {
                if pendingCR {
                    pendingCR = false
                    if b == 10 {
                        if lineOpen {
                            emit(DKIMCanonicalization.crlf)
                            lineOpen = false
                        } else {
                            heldLines += 1
                        }
                        continue
                    }
                    content(13)
                }
                if b == 13 { pendingCR = true } else { content(b) }
            }
            out.flush()
        }

        private mutating func content(_ b: UInt8) {
            for _ in 0..<heldLines { emit(DKIMCanonicalization.crlf) }
            heldLines = 0
            out.append(b)
            wroteAny = true
            lineOpen = true
        }

        private mutating func emit(_ bytes: some Collection<UInt8>) {
            out.append(bytes)
            wroteAny = true
        }

        public consuming func finish() -> [UInt8] {
            if pendingCR { content(13) }
            if lineOpen || !wroteAny { emit(DKIMCanonicalization.crlf) }
            return out.finish()
        }
    }

    /// A body hash in either canonicalization, up to an optional `l=` length.
    public enum BodyHash: Sendable {
        case simple(SimpleBodyHash)
        case relaxed(RelaxedBodyHash)

        public init(_ kind: Kind, limit: Int? = nil) {
            self = kind == .simple ? .simple(SimpleBodyHash(limit: limit)) : .relaxed(RelaxedBodyHash(limit: limit))
        }

        public mutating func update(_ bytes: some Sequence<UInt8>) {
            switch self {
            case .simple(var h):
                h.update(bytes)
                self = .simple(h)
            case .relaxed(var h):
                h.update(bytes)
                self = .relaxed(h)
            }
        }

        public consuming func finish() -> [UInt8] {
            switch self {
            case .simple(let h): h.finish()
            case .relaxed(let h): h.finish()
            }
        }
    }

    static let crlf: [UInt8] = [13, 10]

    /// SHA-256 fed through a buffer, so that the canonicalizers can write an octet at a time.
    struct HashSink: Sendable {
        private var hash = SHA256()
        private var buffer: [UInt8] = []
        /// Octets still to take; nil: all.
        private var left: Int?

        init(limit: Int? = nil) {
            left = limit
            buffer.reserveCapacity(4096)
        }

        mutating func append(_ b: UInt8) {
            if let n = left {
                guard n > 0 else { return }
                left = n - 1
            }
            buffer.append(b)
            if buffer.count >= 4096 { flush() }
        }

        mutating func append(_ bytes: some Collection<UInt8>) {
            if let n = left {
                guard n > 0 else { return }
                let taken = bytes.prefix(n)
                left = n - taken.count
                buffer.append(contentsOf: taken)
            } else {
                buffer.append(contentsOf: bytes)
            }
            if buffer.count >= 4096 { flush() }
        }

        mutating func flush() {
            guard !buffer.isEmpty else { return }
            hash.update(data: buffer)
            buffer.removeAll(keepingCapacity: true)
        }

        consuming func finish() -> [UInt8] {
            flush()
            return Array(hash.finalize())
        }
    }
}
