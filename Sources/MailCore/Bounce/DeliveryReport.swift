import SMTPCore

/// A delivery status notification (RFC 3464, in a `multipart/report` of RFC 6522): a
/// human-readable part, the `message/delivery-status` part, and the first part of the original
/// message — the seed's "error report containing the first part of the undeliverable message".
/// Composed from values only (time and boundary passed in), so it can be golden-tested.
public struct DeliveryReport: Sendable {
    public enum Action: String, Sendable {
        case failed, delayed, delivered, relayed, expanded
    }

    public struct Recipient: Sendable {
        /// The address we tried (Final-Recipient).
        public var finalRecipient: String
        /// The ORCPT parameter, as given (`rfc822;bob@example.org`).
        public var originalRecipient: String?
        public var action: Action
        /// `5.1.1`
        public var status: String
        public var remoteMTA: String?
        /// What happened, in words (the human-readable part).
        public var text: String
        /// `Diagnostic-Code` with its type: `smtp; 550 5.1.1 …` (a server's reply) or `X-Postie; …`.
        public var diagnosticCode: String
        public var lastAttempt: Int64?

        public init(
            finalRecipient: String, originalRecipient: String? = nil, action: Action, status: String, remoteMTA: String? = nil,
            text: String, diagnosticCode: String, lastAttempt: Int64? = nil
        ) {
            self.finalRecipient = finalRecipient
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.remoteMTA = remoteMTA
            self.text = text
            self.diagnosticCode = diagnosticCode
            self.lastAttempt = lastAttempt
        }
    }

    public var reportingMTA: String
    public var queueID: String
    public var arrivalDate: Int64
    public var envelopeID: String?
    public var sender: String
    public var recipients: [Recipient]
    /// The original message (CRLF), or its first part.
    public var original: [UInt8]
    /// RET=HDRS: return the headers only.
    public var headersOnly: Bool
    /// How much of the original to return at most.
    public var originalLimit: Int

    public init(
        reportingMTA: String, queueID: String, arrivalDate: Int64, envelopeID: String? = nil, sender: String, recipients: [Recipient],
        original: [UInt8], headersOnly: Bool = false, originalLimit: Int = 50_000
    ) {
        self.reportingMTA = reportingMTA
        self.queueID = queueID
        self.arrivalDate = arrivalDate
        self.envelopeID = envelopeID
        self.sender = sender
        self.recipients = recipients
        self.original = original
        self.headersOnly = headersOnly
        self.originalLimit = originalLimit
    }

    /// The whole report as a message with CRLF line endings.
    public func message(now: Int64, boundary: String, messageID: String) -> String {
        let failed = recipients.contains { $0.action == .failed }
        let delayed = recipients.allSatisfy { $0.action == .delayed }
        let subject =
            failed ? "Undelivered Mail Returned to Sender" : delayed ? "Delayed Mail (still being retried)" : "Successful Mail Delivery Report"
        var s = ""
        s += "From: Mail Delivery System <MAILER-DAEMON@\(reportingMTA)>\r\n"
        s += "To: \(sender)\r\n"
        s += "Subject: \(subject)\r\n"
        s += "Date: \(MessageDate.rfc5322(unixTime: now))\r\n"
        s += "Message-ID: <\(messageID)>\r\n"
        s += "Auto-Submitted: auto-replied\r\n"
        s += "MIME-Version: 1.0\r\n"
        s += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"\(boundary)\"\r\n"
        s += "\r\nThis is a MIME-encapsulated message.\r\n\r\n"

        s += "--\(boundary)\r\n"
        s += "Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        s += "This is the mail system at host \(reportingMTA).\r\n\r\n"
        if failed {
            s += "I'm sorry to have to inform you that your message could not be delivered to one or more\r\n"
            s += "recipients. The first part of your message is attached below.\r\n\r\n"
        } else if delayed {
            s += "Your message could not be delivered yet. It will be tried again; you need not send it again.\r\n\r\n"
        } else {
            s += "Your message was delivered to the recipients below, as you asked to be told.\r\n\r\n"
        }
        for r in recipients {
            s += "<\(HeaderText.singleLine(r.finalRecipient))>: \(r.action.rawValue): \(HeaderText.singleLine(r.text))\r\n"
        }
        s += "\r\n"

        s += "--\(boundary)\r\n"
        s += "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        s += "Reporting-MTA: dns; \(reportingMTA)\r\n"
        s += "X-Postie-Queue-ID: \(queueID)\r\n"
        if let envelopeID { s += "Original-Envelope-Id: \(HeaderText.singleLine(envelopeID))\r\n" }
        s += "Arrival-Date: \(MessageDate.rfc5322(unixTime: arrivalDate))\r\n"
        for r in recipients {
            s += "\r\n"
            s += "Final-Recipient: rfc822; \(HeaderText.singleLine(r.finalRecipient))\r\n"
            if let o = r.originalRecipient { s += "Original-Recipient: \(HeaderText.singleLine(o))\r\n" }
            s += "Action: \(r.action.rawValue)\r\n"
            s += "Status: \(r.status)\r\n"
            if let mta = r.remoteMTA { s += "Remote-MTA: dns; \(HeaderText.singleLine(mta))\r\n" }
            s += "Diagnostic-Code: \(HeaderText.singleLine(r.diagnosticCode))\r\n"
            if let t = r.lastAttempt { s += "Last-Attempt-Date: \(MessageDate.rfc5322(unixTime: t))\r\n" }
        }
        s += "\r\n"

        let (part, truncated) = originalPart()
        s += "--\(boundary)\r\n"
        if headersOnly {
            s += "Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        } else {
            s += "Content-Description: \(truncated ? "First part of the undelivered message" : "Undelivered Message")\r\n"
            s += "Content-Type: message/rfc822\r\n\r\n"
        }
        s += String(decoding: part, as: UTF8.self)
        if !part.isEmpty && !(part.count >= 2 && part[part.count - 2] == 13 && part[part.count - 1] == 10) { s += "\r\n" }
        s += "\r\n--\(boundary)--\r\n"
        return s
    }

    /// The headers (always whole, up to the limit) and the start of the body, cut at a line end.
    func originalPart() -> ([UInt8], Bool) {
        var headerEnd = original.count
        if original.count >= 4 {
            for i in 0...(original.count - 4)
            where original[i] == 13 && original[i + 1] == 10 && original[i + 2] == 13 && original[i + 3] == 10 {
                headerEnd = i + 2
                break
            }
        }
        if headersOnly {
            let end = min(headerEnd, originalLimit)
            return (cutAtLine(Array(original[..<end])), end < original.count)
        }
        guard original.count > originalLimit else { return (original, false) }
        return (cutAtLine(Array(original[..<originalLimit])), true)
    }

    private func cutAtLine(_ bytes: [UInt8]) -> [UInt8] {
        guard let lastLF = bytes.lastIndex(of: 10) else { return bytes }
        return Array(bytes[...lastLF])
    }
}
