import SMTPCore

/// The envelope's text form:
///
///     Postie-Envelope: 1
///     Id: 3F2A9C1B0D4E5
///     Arrival: 1764452277 2026-11-29T21:37:57Z
///     Size: 1234
///     Sender: <elinor@abcd.com>
///     Client: 127.0.0.1
///     Helo: abcd.com
///     Protocol: ESMTP
///     Recipient: mailbox:carolyn@xyz.com<TAB>pending<TAB>attempts=0<TAB>original=<carolyn@xyz.com>
///
/// One field a line; a recipient's attributes are separated by tabs, which no address contains.
extension Envelope {
    public struct DecodingError: Error, Hashable, Sendable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }

        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    static let magic = "Postie-Envelope: 1"

    /// Values from elsewhere are made single-line and tab-free with `HeaderText.singleLine`.
    public func encoded() -> String {
        var s = Self.magic + "\n"
        s += "Id: \(id)\n"
        s += "Arrival: \(arrivalTime) \(MessageDate.iso8601(unixTime: arrivalTime))\n"
        s += "Size: \(size)\n"
        s += "Sender: \(sender)\n"
        s += "Client: \(HeaderText.singleLine(clientAddress))\n"
        s += "Helo: \(HeaderText.singleLine(heloName))\n"
        s += "Protocol: \(HeaderText.singleLine(protocolName))\n"
        if let body { s += "Body: \(body.rawValue)\n" }
        if smtpUTF8 { s += "SMTPUTF8: yes\n" }
        if let ret { s += "Ret: \(HeaderText.singleLine(ret))\n" }
        if let envelopeID { s += "Envid: \(HeaderText.singleLine(envelopeID))\n" }
        if let nextAttempt { s += "Next-Attempt: \(nextAttempt) \(MessageDate.iso8601(unixTime: nextAttempt))\n" }
        if delayNotified { s += "Delay-Notified: yes\n" }
        if quarantined { s += "Quarantine: junk\n" }
        if held { s += "Held: yes\n" }
        for r in recipients {
            var fields: [String]
            switch r.target {
            case .mailbox(let domain, let user): fields = ["mailbox:\(user)@\(domain)"]
            case .remote(let m): fields = ["remote:\(m)"]
            }
            fields.append(r.status.rawValue)
            fields.append("attempts=\(r.attempts)")
            fields.append("original=\(HeaderText.singleLine(r.original))")
            if let n = r.notify { fields.append("notify=\(HeaderText.singleLine(n))") }
            if let o = r.originalRecipientParameter { fields.append("orcpt=\(HeaderText.singleLine(o))") }
            if let e = r.lastError { fields.append("error=\(HeaderText.singleLine(e))") }
            s += "Recipient: " + fields.joined(separator: "\t") + "\n"
        }
        return s
    }

    public init(decoding text: String) throws(DecodingError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.first == Self.magic else { throw DecodingError(line: 1, reason: "not a Postie envelope") }
        var values: [String: String] = [:]
        var recipients: [EnvelopeRecipient] = []
        for (index, line) in lines.enumerated().dropFirst() {
            let n = index + 1
            guard let colon = line.firstIndex(of: ":") else { throw DecodingError(line: n, reason: "missing ':'") }
            let key = String(line[..<colon])
            var value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
            if key == "Recipient" {
                recipients.append(try Self.decodeRecipient(String(value), line: n))
            } else {
                guard values[key] == nil else { throw DecodingError(line: n, reason: "duplicate \(key)") }
                values[key] = String(value)
            }
        }
        func required(_ key: String) throws(DecodingError) -> String {
            guard let v = values[key] else { throw DecodingError(line: lines.count, reason: "missing \(key)") }
            return v
        }
        func number(_ key: String) throws(DecodingError) -> Int64 {
            let v = try required(key)
            guard let n = Int64(v.split(separator: " ").first ?? "") else { throw DecodingError(line: 0, reason: "bad \(key)") }
            return n
        }
        guard let sender = ReversePath.parse(try required("Sender")) else {
            throw DecodingError(line: 0, reason: "bad Sender")
        }
        var body: BodyType?
        if let b = values["Body"] {
            guard let parsed = BodyType(rawValue: b) else { throw DecodingError(line: 0, reason: "bad Body") }
            body = parsed
        }
        var next: Int64?
        if values["Next-Attempt"] != nil { next = try number("Next-Attempt") }
        guard !recipients.isEmpty else { throw DecodingError(line: lines.count, reason: "no recipients") }
        self.init(
            id: try required("Id"), arrivalTime: try number("Arrival"), size: Int(try number("Size")), sender: sender,
            clientAddress: try required("Client"), heloName: try required("Helo"), protocolName: try required("Protocol"),
            body: body, smtpUTF8: values["SMTPUTF8"] == "yes", ret: values["Ret"], envelopeID: values["Envid"],
            recipients: recipients, nextAttempt: next)
        delayNotified = values["Delay-Notified"] == "yes"
        quarantined = values["Quarantine"] == "junk"
        held = values["Held"] == "yes"
    }

    static func decodeRecipient(_ text: String, line: Int) throws(DecodingError) -> EnvelopeRecipient {
        let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 2, let status = EnvelopeRecipient.Status(rawValue: fields[1]) else {
            throw DecodingError(line: line, reason: "bad recipient")
        }
        let target: Destination
        if fields[0].hasPrefix("mailbox:") {
            let address = fields[0].dropFirst("mailbox:".count)
            guard let at = address.lastIndex(of: "@") else { throw DecodingError(line: line, reason: "bad mailbox") }
            let user = String(address[..<at])
            let domain = String(address[address.index(after: at)...])
            guard LocalDirectory.isSafePathComponent(user), LocalDirectory.isSafePathComponent(domain) else {
                throw DecodingError(line: line, reason: "unsafe mailbox name")
            }
            target = .mailbox(domain: domain, user: user)
        } else if fields[0].hasPrefix("remote:"), let m = Mailbox.parse(String(fields[0].dropFirst("remote:".count))) {
            target = .remote(m)
        } else {
            throw DecodingError(line: line, reason: "bad recipient target")
        }
        var r = EnvelopeRecipient(target: target, original: "", status: status)
        for f in fields.dropFirst(2) {
            guard let eq = f.firstIndex(of: "=") else { throw DecodingError(line: line, reason: "bad recipient field") }
            let k = f[..<eq]
            let v = String(f[f.index(after: eq)...])
            switch k {
            case "attempts": r.attempts = Int(v) ?? 0
            case "original": r.original = v
            case "notify": r.notify = v
            case "orcpt": r.originalRecipientParameter = v
            case "error": r.lastError = v
            default: throw DecodingError(line: line, reason: "unknown recipient field \(k)")
            }
        }
        return r
    }
}
