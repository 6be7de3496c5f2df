import MailCore
import Testing

@Suite struct HeaderFieldFilterTests {
    static let message = Array((
        "Received: from a\r\n\tby b; Mon, 1 Jan 2026\r\n"
        + "Authentication-Results: mx.example.org; spf=pass\r\n smtp.mailfrom=forged.test\r\n"
        + "Authentication-Results: other.example; dkim=fail\r\n"
        + "From: a@example.com\r\n"
        + "\r\n"
        + "Authentication-Results: mx.example.org; in the body, kept\r\n"
    ).utf8)

    static func ours(_ name: String, _ field: [UInt8]) -> Bool {
        name == "authentication-results" && String(decoding: field, as: UTF8.self).contains("mx.example.org;")
    }

    static let expected = String(decoding: message, as: UTF8.self)
        .replacing("Authentication-Results: mx.example.org; spf=pass\r\n smtp.mailfrom=forged.test\r\n", with: "")

    @Test func dropsChosenFieldsWholeOrInAnyPieces() {
        for size in [1, 2, 3, 7, 16, 64, Self.message.count] {
            var filter = HeaderFieldFilter(drop: Self.ours)
            var out: [UInt8] = []
            var rest = Self.message[...]
            while !rest.isEmpty {
                out += filter.filter(rest.prefix(size))
                rest = rest.dropFirst(size)
            }
            out += filter.finish()
            #expect(String(decoding: out, as: UTF8.self) == Self.expected, "pieces of \(size)")
            #expect(filter.dropped == 1)
        }
    }

    @Test func aMessageWithoutBodyEndsItsLastField() {
        var filter = HeaderFieldFilter(drop: Self.ours)
        var out = filter.filter(Array("Subject: x\r\nAuthentication-Results: mx.example.org; none\r\n".utf8))
        out += filter.finish()
        #expect(String(decoding: out, as: UTF8.self) == "Subject: x\r\n")
    }

    @Test func longFieldsPassOrDropByName() {
        let long = "X-Long: " + String(repeating: "a", count: 200) + "\r\n"
        let longAR = "Authentication-Results: " + String(repeating: "b", count: 200) + "\r\n"
        let text = long + longAR + "Subject: s\r\n\r\nbody\r\n"
        var filter = HeaderFieldFilter(limit: 64, dropWhenLong: ["authentication-results"], drop: { _, _ in false })
        var out: [UInt8] = []
        for byte in Array(text.utf8) { out += filter.filter([byte]) }
        out += filter.finish()
        #expect(String(decoding: out, as: UTF8.self) == long + "Subject: s\r\n\r\nbody\r\n")
    }
}
