import Logging
import MailAuth
import NIOCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// DKIM signing of one message on its way into the spool (docs/authentication.md): the data goes
/// through a `DKIMMessageSigner` as it is written, the writer leaves room for the signature if the
/// message outgrows memory, and the signature fields go before the message at the commit. Used by
/// the SMTP connections and by `postie sendmail` submissions; used on one event loop.
final class MessageSigning {
    private var signer: DKIMMessageSigner?
    /// The signing time, fixed at the start: the room left for the signature depends on it.
    private let time = Int64(Glibc.time(nil))

    /// Nil when no domain has keys.
    init?(_ dkim: DKIMSettings, writer: SpoolWriter) {
        guard !dkim.domains.isEmpty else { return nil }
        signer = DKIMMessageSigner { dkim.signers(for: $0) }
        let time = self.time
        // The length is known once the header section has been read; it usually has by the time
        // a message outgrows memory (else the message is not signed).
        writer.roomForPrefix = { [weak self] in self?.signer?.plannedLength(time: time) ?? 0 }
    }

    func update(_ data: ByteBuffer) {
        signer?.update(data.readableBytesView)
    }

    /// The signature fields to put before the message (exactly filling the room a streamed
    /// message left), and what the `queued` log line says of them. A message that cannot be
    /// signed is sent unsigned, never refused.
    func finish(_ writer: SpoolWriter, logger: Logger) -> (prefix: [UInt8], log: String) {
        guard let signer else { return ([], "none") }
        self.signer = nil
        let signers = (try? signer.signers?.get()) ?? []
        let room = writer.reservedPrefix
        switch signer.finish(time: time) {
        case .success(let fields) where room == 0 || fields.count == room:
            return (fields, signers.map { "\($0.domain)/\($0.selector)" }.joined(separator: ","))
        case .success:
            logger.error("dkim: the signature did not fit the room left for it; sent unsigned", metadata: ["queue_id": .string(writer.queueID)])
            return (DKIMMessageSigner.filler(octets: room), "none (error)")
        case .failure(let skip):
            if case .failed = skip {
                logger.error("dkim: not signed", metadata: ["queue_id": .string(writer.queueID), "reason": .string(skip.description)])
            }
            return (room > 0 ? DKIMMessageSigner.filler(octets: room) : [], "none (\(skip))")
        }
    }
}
