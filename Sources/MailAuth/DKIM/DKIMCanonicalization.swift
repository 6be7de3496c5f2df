import Crypto

/// DKIM's "relaxed" canonicalization (RFC 6376 §3.4.2, §3.4.4), the one Postie signs with: it
/// survives the re-folding and whitespace changes that relays make. Written by hand: no Swift
/// library canonicalizes DKIM.
public enum DKIMCanonicalization {
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
        private var hash = SHA256()
        /// Empty lines seen and not yet written: written before the next line with content, never
        /// if the body ends first.
        private var blankLines = 0
        private var pendingSpace = false
        private var lineHasContent = false
        private var pendingCR = false
        private var out: [UInt8] = []

        public init() { out.reserveCapacity(4096) }

        public mutating func update(_ bytes: some Sequence<UInt8>) {
            if bytes.withContiguousStorageIfAvailable({ process($0) }) == nil {
                Array(bytes).withUnsafeBufferPointer { process($0) }
            }
            flushOut()
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
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[(i + 1)..<end]))
                if out.count >= 4096 { flushOut() }
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
                for _ in 0..<blankLines { out += [13, 10] }
                blankLines = 0
            }
            if pendingSpace { out.append(32) }
            pendingSpace = false
            lineHasContent = true
            out.append(b)
            if out.count >= 4096 { flushOut() }
        }

        private mutating func endLine() {
            pendingSpace = false
            if lineHasContent {
                out += [13, 10]
                lineHasContent = false
            } else {
                blankLines += 1
            }
        }

        private mutating func flushOut() {
            guard !out.isEmpty else { return }
            hash.update(data: out)
            out.removeAll(keepingCapacity: true)
        }

        /// The SHA-256 of the canonical body.
        public consuming func finish() -> [UInt8] {
            if pendingCR { content(13) }
            if lineHasContent { out += [13, 10] }
            flushOut()
            return Array(hash.finalize())
        }
    }
}
