import Testing

@testable import Storage

@Suite struct LineEndingConverterTests {
    /// CRLF becomes LF, a lone CR stays, whatever the chunk boundaries.
    static func reference(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            if input[i] == 13, i + 1 < input.count, input[i + 1] == 10 {
                out.append(10)
                i += 2
            } else {
                out.append(input[i])
                i += 1
            }
        }
        return out
    }

    @Test func matchesTheReferenceForEveryCut() {
        let samples: [[UInt8]] = [
            Array("a\r\nb\r\n\r\nc".utf8), Array("\r\r\n\n\r".utf8), Array("no line ends".utf8), [13], [13, 10], [],
            Array(repeating: Array("line\r\n".utf8), count: 50).flatMap { $0 } + [13],
        ]
        for sample in samples {
            let expected = Self.reference(sample)
            for size in 1...max(1, sample.count) {
                var converter = LineEndingConverter()
                var out: [UInt8] = []
                var i = 0
                while i < sample.count {
                    converter.convert(sample[i..<min(sample.count, i + size)], into: &out)
                    i += size
                }
                converter.finish(into: &out)
                #expect(out == expected, "\(sample) cut every \(size)")
            }
        }
    }
}
