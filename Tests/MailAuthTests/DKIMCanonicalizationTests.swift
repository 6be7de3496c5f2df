import Crypto
import MailAuth
import Testing

/// Relaxed canonicalization against RFC 6376 §3.4.2, §3.4.4 and the example of §3.4.5.
@Suite struct DKIMCanonicalizationTests {
    func relaxed(_ field: String) -> String {
        let section = RawHeaderSection(Array((field + "\r\n\r\n").utf8))
        #expect(section.fields.count == 1)
        return String(decoding: DKIMCanonicalization.relaxedHeader(section.fields[0]), as: UTF8.self)
    }

    func bodyHash(_ body: String, _ kind: DKIMCanonicalization.Kind = .relaxed, chunk: Int = .max) -> String {
        var hash = DKIMCanonicalization.BodyHash(kind)
        var rest = Array(body.utf8)[...]
        while !rest.isEmpty {
            hash.update(rest.prefix(chunk))
            rest = rest.dropFirst(chunk)
        }
        return hex(hash.finish())
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    func sha256(_ text: String) -> String { hex(Array(SHA256.hash(data: Array(text.utf8)))) }

    @Test(arguments: [
        // RFC 6376 §3.4.5's example.
        ("A: X", "a:X\r\n"),
        ("B : Y\t\r\n\tZ  ", "b:Y Z\r\n"),
        // Name case, runs of whitespace, folding at several places, nothing at either end.
        ("SUBJECT:   many   spaces\there  ", "subject:many spaces here\r\n"),
        ("To: a@example.com,\r\n  b@example.com,\r\n\tc@example.com", "to:a@example.com, b@example.com, c@example.com\r\n"),
        ("X-Empty:", "x-empty:\r\n"),
        ("X-Empty:   \r\n \t", "x-empty:\r\n"),
        // 8-bit (SMTPUTF8) header text passes through untouched.
        ("Subject: caf\u{e9}  \u{2603}", "subject:caf\u{e9} \u{2603}\r\n"),
    ])
    func relaxedHeaders(_ field: String, _ expected: String) {
        #expect(relaxed(field) == expected)
    }

    @Test(arguments: [
        // RFC 6376 §3.4.5's example body.
        (" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"),
        // Empty body, and a body of only empty lines: nothing (§3.4.4).
        ("", ""),
        ("\r\n", ""),
        ("\r\n\r\n\r\n", ""),
        // Whitespace-only lines count as empty, also at the end.
        ("x\r\n  \r\n\t\r\n", "x\r\n"),
        // No CRLF at the end: one is added.
        ("last line", "last line\r\n"),
        ("trailing  ", "trailing\r\n"),
        // Empty lines in the middle stay.
        ("a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"),
        ("  lead\r\n", " lead\r\n"),
        // 8-bit content is content.
        ("caf\u{e9} \r\n", "caf\u{e9}\r\n"),
    ])
    func relaxedBodies(_ body: String, _ canonical: String) {
        #expect(bodyHash(body) == sha256(canonical))
        // Cut into pieces anywhere (between CR and LF too), the hash is the same.
        for chunk in [1, 2, 3, 7] { #expect(bodyHash(body, chunk: chunk) == sha256(canonical)) }
    }

    @Test(arguments: [
        // RFC 6376 §3.4.5's example body, simple: only the empty lines at the end go.
        (" C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n"),
        // An empty body, or one of empty lines only, is one CRLF (§3.4.3).
        ("", "\r\n"),
        ("\r\n", "\r\n"),
        ("\r\n\r\n\r\n", "\r\n"),
        ("no end", "no end\r\n"),
        ("a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"),
        // Whitespace is content here.
        ("x\r\n  \r\n", "x\r\n  \r\n"),
        ("cr\rinside\r\n", "cr\rinside\r\n"),
    ])
    func simpleBodies(_ body: String, _ canonical: String) {
        #expect(bodyHash(body, .simple) == sha256(canonical))
        for chunk in [1, 2, 3] { #expect(bodyHash(body, .simple, chunk: chunk) == sha256(canonical)) }
    }

    @Test func simpleHeadersAreTheFieldAsItIs() {
        let section = RawHeaderSection(Array("SUBJECT :  x\t\r\n y \r\n\r\n".utf8))
        #expect(String(decoding: DKIMCanonicalization.simpleHeader(section.fields[0]), as: UTF8.self) == "SUBJECT :  x\t\r\n y \r\n")
    }

    @Test func theHeaderSectionIsSplitIntoRawFields() {
        let message = Array("From: a@example.com\r\nSubject: one\r\n two\r\nX-Odd : y\r\n\r\nbody\r\n".utf8)
        let section = RawHeaderSection(message)
        #expect(section.isComplete)
        #expect(section.fields.map(\.name) == ["From", "Subject", "X-Odd"])
        #expect(String(decoding: section.fields[1].octets, as: UTF8.self) == "Subject: one\r\n two")
        #expect(Array(message[section.bodyOffset...]) == Array("body\r\n".utf8))
        // Cut short: not complete.
        #expect(!RawHeaderSection(Array("From: a@example.com\r\nSubj".utf8)).isComplete)
    }

    @Test func theSignatureValueIsTakenOutAndNothingElse() {
        let raw = "DKIM-Signature: v=1; a=rsa-sha256; bh=AAAA;\r\n b=abc\r\n def; s=x"
        let field = RawHeaderSection(Array((raw + "\r\n\r\n").utf8)).fields[0]
        #expect(String(decoding: field.withoutSignatureValue.octets, as: UTF8.self) == "DKIM-Signature: v=1; a=rsa-sha256; bh=AAAA;\r\n b=; s=x")
    }
}
