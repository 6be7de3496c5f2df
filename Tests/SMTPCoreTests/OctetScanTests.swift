import SMTPCore
import Testing

@Suite struct OctetScanTests {
    /// Every position and start in buffers of up to 24 octets, next to octets that differ from
    /// CR and LF in one bit (a word-at-a-time test that borrowed wrongly would stop at them).
    @Test func findsTheFirstLineEndingAtEveryPosition() {
        let fillers: [UInt8] = [0x0C, 0x0E, 0x0B, 0x8D, 0x8A, 0x1D, 0x2A, 0x00, 0xFF, 0x58]
        for length in 0...24 {
            for position in -1..<length {
                for ending in [UInt8(13), 10] {
                    var bytes = (0..<length).map { fillers[$0 % fillers.count] }
                    if position >= 0 { bytes[position] = ending }
                    bytes.withUnsafeBytes { raw in
                        for start in 0...length {
                            let expected = position >= start ? position : length
                            #expect(OctetScan.firstLineEnding(in: raw, from: start) == expected)
                            let octet = position >= 0 ? ending : 13
                            #expect(OctetScan.firstIndex(of: octet, in: raw, from: start) == expected)
                        }
                    }
                }
            }
        }
    }

    @Test func theFirstOfSeveral() {
        let bytes = Array("abcdefghij\nklm\r\nopq".utf8)
        bytes.withUnsafeBytes { raw in
            #expect(OctetScan.firstLineEnding(in: raw, from: 0) == 10)
            #expect(OctetScan.firstLineEnding(in: raw, from: 11) == 14)
            #expect(OctetScan.firstIndex(of: 13, in: raw, from: 0) == 14)
            #expect(OctetScan.firstIndex(of: 10, in: raw, from: 11) == 15)
        }
    }

    @Test func findsEightBitOctetsAtEveryPosition() {
        for length in 0...20 {
            let plain = [UInt8](repeating: 0x7F, count: length)
            #expect(!plain.withUnsafeBytes(OctetScan.containsEightBit))
            for position in 0..<length {
                var bytes = plain
                bytes[position] = 0x80
                #expect(bytes.withUnsafeBytes(OctetScan.containsEightBit), "length \(length), at \(position)")
            }
        }
    }
}
