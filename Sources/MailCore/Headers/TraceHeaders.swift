import SMTPCore

/// The trace fields of RFC 5321 §4.4: `Return-Path:` at final delivery and the `Received:` field
/// each hop prepends.
public enum TraceHeaders {
    /// What a `Received:` field records about one hop.
    public struct Hop: Sendable, Hashable {
        public var heloName: String
        public var clientAddress: String
        public var clientHostname: String?
        public var byHostname: String
        /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPSA` … (RFC 3848).
        public var protocolName: String
        /// TLS version and cipher, when the hop was encrypted.
        public var tls: String?
        public var queueID: String
        /// Named only when the message has a single recipient, so as not to disclose the others.
        public var singleRecipient: String?
        public var unixTime: Int64

        public init(
            heloName: String, clientAddress: String, clientHostname: String? = nil, byHostname: String,
            protocolName: String, tls: String? = nil, queueID: String, singleRecipient: String?, unixTime: Int64
        ) {
            self.heloName = heloName
            self.clientAddress = clientAddress
            self.clientHostname = clientHostname
            self.byHostname = byHostname
            self.protocolName = protocolName
            self.tls = tls
            self.queueID = queueID
            self.singleRecipient = singleRecipient
            self.unixTime = unixTime
        }
    }

    /// The `Received:` field, folded, ending in CRLF. Values that came from the client are
    /// cleaned of anything that could end the field early or break its syntax.
    public static func received(_ hop: Hop) -> String {
        let helo = clean(hop.heloName)
        let address = clean(hop.clientAddress)
        let literal = address.contains(":") ? "[IPv6:\(address)]" : "[\(address)]"
        var s = "Received: from \(helo) (\(hop.clientHostname.map { clean($0) + " " } ?? "")\(literal))\r\n"
        s += "\tby \(clean(hop.byHostname)) (Postie) with \(hop.protocolName)"
        if let tls = hop.tls { s += " (\(clean(tls)))" }
        s += " id \(hop.queueID)"
        if let rcpt = hop.singleRecipient {
            s += "\r\n\tfor <\(clean(rcpt))>"
        }
        s += ";\r\n\t\(MessageDate.rfc5322(unixTime: hop.unixTime))\r\n"
        return s
    }

    /// `Return-Path: <sender>` ending in CRLF (RFC 5321 §4.4).
    public static func returnPath(_ sender: ReversePath) -> String {
        "Return-Path: \(clean(sender.description))\r\n"
    }

    /// Removes control characters (CR, LF, NUL …) and the characters that would unbalance the
    /// field's comments.
    static func clean(_ text: String) -> String {
        // Usually there is nothing to remove; each character removed is one UTF-8 octet.
        func removed(_ v: UInt32) -> Bool { HeaderText.isControl(v) || v == 0x28 || v == 0x29 || v == 0x3B }  // ( ) ;
        guard text.utf8.contains(where: { removed(UInt32($0)) }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.filter { !removed($0.value) }))
    }
}
