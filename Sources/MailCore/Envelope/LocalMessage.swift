import SMTPCore

/// A message Postie takes from a local user or makes itself (a submission through `postie
/// sendmail`, a delivery report): its trace field and its envelope, made one way.
public enum LocalMessage {
    /// `Received: by <host> (Postie, <how>); <date>`: the form for mail that did not arrive over
    /// SMTP (RFC 5321 §4.4 leaves out the FROM clause then).
    public static func received(by hostname: String, _ how: String, unixTime: Int64) -> String {
        "Received: by \(TraceHeaders.clean(hostname)) (Postie, \(TraceHeaders.clean(how)));\r\n\t\(MessageDate.rfc5322(unixTime: unixTime))\r\n"
    }

    /// The envelope of such a message: from this machine (`127.0.0.1`, protocol `local`).
    public static func envelope(
        id: String, arrival: Int64, size: Int, sender: ReversePath, heloName: String, eightBit: Bool, recipients: [EnvelopeRecipient]
    ) -> Envelope {
        Envelope(
            id: id, arrivalTime: arrival, size: size, sender: sender, clientAddress: "127.0.0.1", heloName: heloName, protocolName: "local",
            body: eightBit ? .eightBitMIME : nil, recipients: recipients)
    }
}
