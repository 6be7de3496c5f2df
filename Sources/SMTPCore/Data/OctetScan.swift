/// Looking through message data eight octets at a time: the decoders' and the 8-bit check's hot
/// loops. Message text is mostly long runs between line endings, and a word-at-a-time test skips
/// them about four times faster than looking at each octet. Written by hand (SWAR): the standard library has
/// no vectorised search of a raw buffer for either of two octets.
public enum OctetScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether any of the eight octets of `word` is zero (exact; the classic test).
    @inline(__always)
    private static func hasZeroOctet(_ word: UInt64) -> Bool {
        (word &- ones) & ~word & highs != 0
    }

    /// The index of the first CR or LF in `raw` at or after `start`, or `raw.count`.
    @inline(__always)
    public static func firstLineEnding(in raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        let n = raw.count
        while i + 8 <= n {
            let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if hasZeroOctet(word ^ (ones &* 13)) || hasZeroOctet(word ^ (ones &* 10)) { break }
            i += 8
        }
        while i < n {
            let c = raw[i]
            if c == 13 || c == 10 { return i }
            i += 1
        }
        return n
    }

    /// Whether any octet is above 127 (8-bit data in a message declared 7-bit).
    public static func containsEightBit(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = raw.count
        while i + 8 <= n {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & highs != 0 { return true }
            i += 8
        }
        while i < n {
            if raw[i] >= 0x80 { return true }
            i += 1
        }
        return false
    }

    /// The index of the first `octet` in `raw` at or after `start`, or `raw.count`.
    @inline(__always)
    public static func firstIndex(of octet: UInt8, in raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        let n = raw.count
        let pattern = ones &* UInt64(octet)
        while i + 8 <= n {
            if hasZeroOctet(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ pattern) { break }
            i += 8
        }
        while i < n {
            if raw[i] == octet { return i }
            i += 1
        }
        return n
    }
}
