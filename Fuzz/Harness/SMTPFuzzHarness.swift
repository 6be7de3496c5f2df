import MailAuth
import MailCore
import NIOCore
import SMTPCore

/// What the `SMTPFuzz` libFuzzer target and the regression tests run on one input: the command
/// parser (lenient and strict), the DATA and BDAT decoders, the header scanner and a whole server
/// session, the mail authentication parsers, and the admin listener's HTTP pipeline
/// (AdminHTTPFuzz.swift), each fed the input in pieces.
/// Beyond not crashing, each run checks invariants and returns the ones that broke:
/// - feeding the input whole or in pieces gives the same result (framing never depends on how
///   TCP cut the bytes);
/// - a message is only ever committed when it ended properly, and then holds no bare CR or LF
///   (no smuggling), and message data only flows while a message is open;
/// - every reply is well formed (three digits, one text line each, no CR or LF inside);
/// - addresses the parser accepts print back to text that parses to the same address.
public enum SMTPFuzzHarness {
    /// The first two octets choose the configuration and how the rest is cut into pieces.
    public static func run(_ input: [UInt8]) -> [String] {
        guard input.count >= 2 else { return [] }
        let flags = input[0]
        let stream = Array(input[2...])
        let pieces = cut(stream, seed: input[1])
        var problems: [String] = []
        problems += checkParser(stream)
        problems += checkDataDecoder(stream, pieces, small: flags & 4 != 0)
        problems += checkChunkDecoder(stream, pieces, small: flags & 4 != 0)
        problems += checkSession(flags: flags, stream: stream, pieces: pieces)
        problems += checkHeaderScanner(stream, pieces)
        problems += checkDKIMSigner(stream, pieces)
        problems += checkDNSText(stream)
        problems += checkDKIMVerifier(stream, pieces)
        problems += checkSPFRecord(stream)
        problems += checkDMARC(stream)
        problems += checkARCVerifier(stream, pieces)
        problems += checkHeaderFieldFilter(stream, pieces)
        problems += checkAdminHTTP(stream, pieces)
        return problems
    }

    /// The ARC verifier (anyone's chains): the same outcome whole or in pieces, and never a pass
    /// for a chain made of fuzz.
    static func checkARCVerifier(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        var whole = ARCVerifier()
        whole.update(stream)
        whole.endOfData()
        var cut = ARCVerifier()
        for piece in pieces { cut.update(piece) }
        cut.endOfData()
        var keys: [String: DKIMKeyAnswer] = [:]
        for name in whole.keyNames { keys[name] = .records([stream]) }
        let a = whole.finish(keys: keys, now: 1_800_000_000)
        let b = cut.finish(keys: keys, now: 1_800_000_000)
        var problems: [String] = []
        if a != b { problems.append("ARC verifier differs whole and in pieces") }
        if a.result == .pass { problems.append("ARC verifier passed a chain made of fuzz") }
        return problems
    }

    /// The filter that takes forged Authentication-Results out (anyone's header): the same output
    /// whole or in pieces, never longer than the input, and the body untouched.
    static func checkHeaderFieldFilter(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        let drop: HeaderFieldFilter.Decision = { name, field in
            name == "authentication-results" && AuthenticationResults.claims(field, authservID: "mx.example.org")
        }
        var whole = HeaderFieldFilter(limit: 256, dropWhenLong: ["authentication-results"], drop: drop)
        let a = whole.filter(stream) + whole.finish()
        var cut = HeaderFieldFilter(limit: 256, dropWhenLong: ["authentication-results"], drop: drop)
        var b: [UInt8] = []
        for piece in pieces { b += cut.filter(piece) }
        b += cut.finish()
        var problems: [String] = []
        if a != b { problems.append("header filter differs whole and in pieces") }
        if a.count > stream.count { problems.append("header filter output longer than its input") }
        if whole.dropped == 0, a != stream { problems.append("header filter changed a message it dropped nothing from") }
        return problems
    }

    /// DMARC records (anyone's TXT records) and From fields (anyone's messages): read without
    /// trouble; a record read has a percentage within 0–100; an author domain is lower case.
    static func checkDMARC(_ stream: [UInt8]) -> [String] {
        var problems: [String] = []
        if case .success(let record) = DMARCRecord.parse(Array("v=DMARC1;".utf8) + stream), !(0...100).contains(record.percentage) {
            problems.append("DMARC percentage out of range")
        }
        let text = String(decoding: stream, as: UTF8.self)
        let domains = DMARCChecker.authorDomains(fromFields: [text])
        if domains.contains(where: { $0 != $0.lowercased() || $0.isEmpty }) { problems.append("DMARC author domain not normalized") }
        _ = PublicSuffixList.embedded.organizationalDomain(of: text)
        return problems
    }

    /// SPF records (anyone's TXT records): read without trouble, as a record and as the macro
    /// text of an explanation; every directive of a record read is a term of its text.
    static func checkSPFRecord(_ stream: [UInt8]) -> [String] {
        var problems: [String] = []
        let record = Array("v=spf1 ".utf8) + stream
        if case .success(let spf) = SPFRecord.parse(record) {
            let terms = Set(String(decoding: stream, as: UTF8.self).split(separator: " ").map(String.init))
            if spf.directives.contains(where: { !terms.contains($0.text) }) { problems.append("SPF directive not a term of the record") }
        }
        if SPFRecord.isSPF(stream) { _ = SPFRecord.parse(stream) }
        let text = String(decoding: stream, as: UTF8.self)
        _ = SPFMacroString.parse(Substring(text), explanation: true)
        if case .success(let m) = SPFMacroString.parse(Substring(text)), m.description != text {
            problems.append("SPF macro-string does not keep its text")
        }
        return problems
    }

    /// The DKIM verifier (anyone's signatures, anyone's key records): the same results whole or
    /// in pieces, one a signature read (at most the limit), and a record made of the input read
    /// as a key without trouble.
    static func checkDKIMVerifier(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        var whole = DKIMVerifier()
        whole.update(stream)
        var cut = DKIMVerifier()
        for piece in pieces { cut.update(piece) }
        let names = whole.keyNames
        var keys: [String: DKIMKeyAnswer] = [:]
        for name in names { keys[name] = .records([stream]) }
        let a = whole.finish(keys: keys, now: 1_800_000_000)
        let b = cut.finish(keys: keys, now: 1_800_000_000)
        var problems: [String] = []
        if a != b { problems.append("DKIM verifier differs whole and in pieces") }
        if a.count > DKIMVerifier.maxSignatures { problems.append("DKIM verifier read more signatures than its limit") }
        if a.contains(where: { $0.verdict == .pass }) { problems.append("DKIM verifier passed a signature made of fuzz") }
        _ = DKIMKeyRecord.parse(stream)
        return problems
    }

    /// TXT record data (from any DNS server): the joined strings are never longer than the data,
    /// and data made of the joined text cut into strings reads back the same.
    static func checkDNSText(_ stream: [UInt8]) -> [String] {
        var problems: [String] = []
        if let joined = DNSText.joinedStrings(stream), joined.count > stream.count { problems.append("TXT strings longer than the data") }
        var data: [UInt8] = []
        var rest = stream[...]
        repeat {
            let piece = rest.prefix(255)
            data.append(UInt8(piece.count))
            data += piece
            rest = rest.dropFirst(piece.count)
        } while !rest.isEmpty
        if DNSText.joinedStrings(data) != stream { problems.append("TXT strings do not read back") }
        return problems
    }

    // MARK: DKIM signer

    /// The DKIM signer (it reads the headers of anyone's message when one of our users sends
    /// it): the same signature whole or in pieces, and exactly the length it planned.
    static func checkDKIMSigner(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        // A fixed key (Ed25519 signatures are deterministic, so the two runs sign alike), made for
        // each input: a key in a static was reported as a leak by the leak sanitizer.
        let key = try! DKIMKey(ed25519Seed: Array(repeating: 7, count: 32))
        let keys: MessageSigner.KeyLookup = { [DKIMSigner(domain: $0, selector: "fuzz", key: key)] }
        var whole = MessageSigner(keys: keys)
        whole.update(stream)
        var cut = MessageSigner(keys: keys)
        for piece in pieces { cut.update(piece) }
        let planned = whole.plannedLength(time: 1_800_000_000)
        let a = whole.finish(time: 1_800_000_000)
        let b = cut.finish(time: 1_800_000_000)
        var problems: [String] = []
        if a != b { problems.append("DKIM signer differs whole and in pieces") }
        if case .success(let fields) = a {
            if let planned, planned != fields.count { problems.append("DKIM signature length \(fields.count) is not the planned \(planned)") }
            let section = RawHeaderSection(fields + stream)
            if section.fields.first?.name != "DKIM-Signature" { problems.append("DKIM signature field does not parse back") }
        }
        return problems
    }

    // MARK: Header scanner

    /// The header scanner (message headers come from anyone) sees the same fields whole or in
    /// pieces, and keeps no more of the From fields than its bound.
    static func checkHeaderScanner(_ stream: [UInt8], _ pieces: [[UInt8]]) -> [String] {
        var whole = HeaderScanner()
        whole.scan(ByteBuffer(bytes: stream))
        var cut = HeaderScanner()
        for piece in pieces { cut.scan(ByteBuffer(bytes: piece)) }
        var problems: [String] = []
        if whole.receivedCount != cut.receivedCount || whole.fromValues != cut.fromValues || whole.headerLength != cut.headerLength
            || whole.headerEnded != cut.headerEnded || whole.hasDate != cut.hasDate
        {
            problems.append("header scanner differs whole and in pieces")
        }
        // Decoding makes at most one scalar of each octet kept.
        if whole.fromValues.reduce(0, { $0 + $1.unicodeScalars.count }) > HeaderScanner.fromLimit {
            problems.append("header scanner kept more of From than its limit")
        }
        return problems
    }

    /// Cuts the stream into pieces of 1 to 64 octets, chosen by a small generator from `seed`.
    public static func cut(_ stream: [UInt8], seed: UInt8) -> [[UInt8]] {
        var state = UInt32(seed) &* 2_654_435_761 &+ 1
        var pieces: [[UInt8]] = []
        var i = 0
        while i < stream.count {
            state = state &* 1_103_515_245 &+ 12345
            let n = min(stream.count - i, Int((state >> 16) % 64) + 1)
            pieces.append(Array(stream[i..<(i + n)]))
            i += n
        }
        return pieces
    }

    static func limits(small: Bool) -> SMTPLimits {
        var limits = SMTPLimits()
        if small {
            limits.maxMessageSize = 300
            limits.maxRecipients = 3
            limits.maxErrors = 50
            limits.textLineLength = 80
            limits.maxMessagesPerConnection = 3
            limits.maxCommandsPerConnection = 200
        } else {
            limits.maxErrors = 1000
        }
        return limits
    }

    // MARK: Command parser

    static func checkParser(_ stream: [UInt8]) -> [String] {
        var problems: [String] = []
        let parser = CommandParser()
        let strict = CommandParser(strictPaths: true)
        for line in stream.split(separator: 10, omittingEmptySubsequences: false) {
            let trimmed = line.last == 13 ? line.dropLast() : line
            // What the strict parser takes, the lenient one takes the same way.
            if case .success(let s) = strict.parse(trimmed), case .success(let l) = parser.parse(trimmed), s != l {
                problems.append("strict and lenient parsers disagree on \(Array(trimmed))")
            }
            guard case .success(let command) = parser.parse(trimmed) else { continue }
            var mailboxes: [Mailbox] = []
            switch command {
            case .mail(let path, _): if let m = path.mailbox { mailboxes.append(m) }
            case .rcpt(.mailbox(let m), _): mailboxes.append(m)
            default: break
            }
            for m in mailboxes where Mailbox.parse(m.description) != m {
                problems.append("address \(m.description) does not parse back to itself (from \(Array(trimmed)))")
            }
        }
        return problems
    }

    // MARK: Decoders

    struct Decoded: Equatable {
        var output: [UInt8]
        var consumed: Int
        var done: Bool
        var problem: MessageDataProblem?
    }

    static func decodeData(_ pieces: [[UInt8]], small: Bool) -> Decoded {
        let l = limits(small: small)
        var decoder = DataDecoder(maxSize: l.maxMessageSize, maxLineLength: l.textLineLength)
        var output = ByteBuffer()
        var consumed = 0
        for piece in pieces {
            var input = ByteBuffer(bytes: piece)
            let before = input.readableBytes
            let done = decoder.decode(&input, into: &output)
            consumed += before - input.readableBytes
            if done {
                return Decoded(output: Array(output.readableBytesView), consumed: consumed, done: true, problem: decoder.problem)
            }
        }
        return Decoded(output: Array(output.readableBytesView), consumed: consumed, done: false, problem: decoder.problem)
    }

    static func checkDataDecoder(_ stream: [UInt8], _ pieces: [[UInt8]], small: Bool) -> [String] {
        var problems: [String] = []
        let whole = decodeData([stream], small: small)
        let cut = decodeData(pieces, small: small)
        if whole != cut { problems.append("DATA decoder: whole \(whole) differs from pieces \(cut)") }
        if whole.done, whole.problem == nil {
            if let bare = bareLineEnding(whole.output) { problems.append("DATA decoder passed a bare line ending at \(bare)") }
            if !whole.output.isEmpty, whole.output.suffix(2) != [13, 10] { problems.append("DATA decoder: message does not end in CRLF") }
        }
        if whole.consumed > stream.count { problems.append("DATA decoder consumed more than it was given") }
        return problems
    }

    /// All pieces as one BDAT LAST chunk.
    static func decodeChunks(_ pieces: [[UInt8]], small: Bool) -> Decoded {
        let l = limits(small: small)
        var decoder = ChunkDecoder(maxSize: l.maxMessageSize, maxLineLength: l.textLineLength)
        var output = ByteBuffer()
        var taken = 0
        for piece in pieces {
            var input = ByteBuffer(bytes: piece)
            taken += decoder.decode(&input, limit: piece.count, into: &output)
        }
        decoder.finish()
        return Decoded(output: Array(output.readableBytesView), consumed: taken, done: true, problem: decoder.problem)
    }

    static func checkChunkDecoder(_ stream: [UInt8], _ pieces: [[UInt8]], small: Bool) -> [String] {
        var problems: [String] = []
        let whole = decodeChunks([stream], small: small)
        let cut = decodeChunks(pieces, small: small)
        if whole != cut { problems.append("BDAT decoder: whole \(whole) differs from pieces \(cut)") }
        if whole.consumed != stream.count { problems.append("BDAT decoder did not take the whole chunk") }
        if whole.problem == nil, let bare = bareLineEnding(whole.output) {
            problems.append("BDAT decoder passed a bare line ending at \(bare)")
        }
        return problems
    }

    /// The offset of a CR not followed by LF or an LF not preceded by CR.
    public static func bareLineEnding(_ bytes: [UInt8]) -> Int? {
        for (i, b) in bytes.enumerated() {
            if b == 13, i + 1 >= bytes.count || bytes[i + 1] != 10 { return i }
            if b == 10, i == 0 || bytes[i - 1] != 13 { return i }
        }
        return nil
    }

    // MARK: Server session

    struct SessionRun {
        var transcript: [String] = []
        var messages: [[UInt8]] = []
        var problems: [String] = []
        /// Transcript entries and messages before STARTTLS took effect.
        var beforeTLS: (transcript: Int, messages: Int)?

        /// What must not depend on how the input was cut: everything up to STARTTLS. After it,
        /// what was pipelined in the same piece is thrown away on purpose (CVE-2011-0411), so
        /// the rest depends on the cut.
        var comparable: ([String], [[UInt8]]) {
            guard let b = beforeTLS else { return (transcript, messages) }
            return (Array(transcript.prefix(b.transcript)), Array(messages.prefix(b.messages)))
        }
    }

    static func drive(flags: UInt8, pieces: [[UInt8]]) -> SessionRun {
        let configuration = ServerSessionConfiguration(
            hostname: "mx.fuzz", limits: limits(small: flags & 4 != 0),
            extensions: AdvertisedExtensions(startTLS: true, auth: ["PLAIN", "LOGIN"], dsn: flags & 8 != 0),
            requiresAuthentication: flags & 2 != 0, implicitTLS: flags & 1 != 0)
        var session = ServerSession(configuration: configuration)
        var run = SessionRun()
        var open: [UInt8]?
        var committing = false
        var closed = false
        var recipients = 0

        func perform(_ actions: [ServerAction]) {
            var queue = actions[...]
            while let action = queue.popFirst() {
                if closed {
                    run.problems.append("action \(action) after close")
                    continue
                }
                switch action {
                case .send(let reply):
                    let text = reply.wireText
                    run.transcript.append(text)
                    if !(200..<600).contains(reply.code) && reply.code != 334 { run.problems.append("reply code \(reply.code)") }
                    for line in text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast() {
                        let b = Array(line.utf8)
                        if b.count < 4 || !b[0..<3].allSatisfy({ (48...57).contains($0) }) || (b[3] != 32 && b[3] != 45)
                            || b.contains(13) || b.contains(10)
                        {
                            run.problems.append("malformed reply line \(line)")
                        }
                    }
                    if !text.hasSuffix("\r\n") { run.problems.append("reply without CRLF") }
                case .close:
                    run.transcript.append("<close>")
                    closed = true
                case .checkRecipient:
                    recipients += 1
                    let verdict = recipients % 3 == 0 ? Reply(550, .init(5, 1, 1), "User unknown") : Reply(250, .init(2, 1, 5), "Ok")
                    queue += session.recipientChecked(verdict)[...]
                case .beginMessage:
                    if open != nil { run.problems.append("a message began inside another") }
                    open = []
                case .messageData(let data):
                    if open == nil { run.problems.append("message data outside a message") }
                    open? += Array(data.readableBytesView)
                case .commitMessage:
                    guard let message = open, !committing else {
                        run.problems.append("commit without an open message")
                        continue
                    }
                    committing = true
                    if let bare = bareLineEnding(message) { run.problems.append("committed a message with a bare line ending at \(bare)") }
                    run.messages.append(message)
                    open = nil
                    committing = false
                    queue += session.messageCommitted(Reply(250, .init(2, 0, 0), "Ok: queued"))[...]
                case .abortMessage:
                    open = nil
                case .startTLS:
                    run.transcript.append("<tls>")
                    if run.beforeTLS == nil { run.beforeTLS = (run.transcript.count, run.messages.count) }
                    queue += session.tlsEstablished()[...]
                case .authenticate(let credentials):
                    let ok = credentials.user == "fuzz" && credentials.password == Array("pw".utf8)
                    queue += session.authenticationChecked(
                        ok
                            ? .accepted(AuthenticatedIdentity(user: "fuzz", senders: SenderPolicy(addresses: ["fuzz@mx.fuzz"])))
                            : .refused(Reply(535, .init(5, 7, 8), "Error: authentication failed")))[...]
                }
            }
        }

        perform(session.start())
        for piece in pieces where !closed {
            perform(session.receive(ByteBuffer(bytes: piece)))
        }
        if !closed { perform(session.connectionClosed()) }
        if session.bufferedBytes > 128 * 1024 { run.problems.append("session buffers \(session.bufferedBytes) octets") }
        return run
    }

    static func checkSession(flags: UInt8, stream: [UInt8], pieces: [[UInt8]]) -> [String] {
        let whole = drive(flags: flags, pieces: [stream])
        let cut = drive(flags: flags, pieces: pieces)
        var problems = whole.problems + cut.problems
        if whole.comparable.0 != cut.comparable.0 || whole.comparable.1 != cut.comparable.1 {
            problems.append("session: whole and pieces differ:\n\(whole.transcript)\n\(cut.transcript)")
        }
        return problems
    }
}
