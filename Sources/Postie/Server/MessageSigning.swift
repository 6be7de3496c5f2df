import Logging
import MailAuth
import NIOCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// DKIM signing (our users' mail) or ARC sealing (a stranger's mail that an alias of ours
/// forwards) of one message on its way into the spool (docs/authentication.md): the data goes
/// through a `MessageSigner` as it is written, the writer leaves room for the fields if the
/// message outgrows memory, and the fields go before the message at the commit. Used by the SMTP
/// connections and by `postie sendmail` submissions; used on one event loop.
///
/// Sendable so that `finish` (an RSA signature takes a millisecond or more) can run on the thread
/// pool: by then the event loop has handed it over and no longer touches it.
final class MessageSigning: @unchecked Sendable {
    private var signer: MessageSigner?
    private let isSeal: Bool
    /// The signing time, fixed at the start: the room left for the fields depends on it.
    private let time = Int64(Glibc.time(nil))

    /// DKIM signing by the `From:` domain's keys; nil when no domain has keys.
    convenience init?(_ dkim: DKIMSettings, writer: SpoolWriter) {
        guard !dkim.domains.isEmpty else { return nil }
        self.init(.dkim({ dkim.signers(for: $0) }), writer: writer)
    }

    /// An ARC set by the forwarding domain's RSA key (the first of its keys that is RSA); nil
    /// when it has none. `results`: what the AAR records (or, when the results are given to
    /// `fields` at the end, text as long as they may be, to plan the room).
    convenience init?(sealingFor domain: String, _ dkim: DKIMSettings, hostname: String, results: String, writer: SpoolWriter) {
        guard let signer = dkim.signers(for: domain).first(where: { $0.key.algorithm == .rsaSHA256 }) else { return nil }
        self.init(.arc(ARCSealer(signer: signer, authservID: hostname), results: results), writer: writer)
    }

    private init(_ mode: MessageSigner.Mode, writer: SpoolWriter) {
        signer = MessageSigner(mode)
        if case .arc = mode { isSeal = true } else { isSeal = false }
        let time = self.time
        // The length is known once the header section has been read; it usually has by the time
        // a message outgrows memory (else the message is not signed).
        writer.roomForPrefix = { [weak self] in self?.signer?.plannedLength(time: time) ?? 0 }
    }

    /// Whether `finish` is slow enough to be worth a trip to the thread pool: an RSA signature
    /// (a millisecond or more, which would stall the event loop's other connections). Ed25519
    /// takes some 60 µs, less than waking an idle pool thread on a virtual machine costs.
    var isSlow: Bool {
        guard let signer else { return false }
        if isSeal { return true }
        return ((try? signer.signers?.get()) ?? []).contains { $0.key.algorithm == .rsaSHA256 }
    }

    func update(_ data: ByteBuffer) {
        signer?.update(data.readableBytesView)
    }

    /// The fields to put before the message (exactly filling the room a streamed message left),
    /// and what the `queued` log line says of them (`dkim_signed=` or `arc_sealed=`). A message that cannot be
    /// signed is sent unsigned, never refused.
    func finish(_ writer: SpoolWriter, logger: Logger) -> (prefix: [UInt8], log: (key: String, value: String)) {
        finish(room: writer.reservedPrefix, queueID: writer.queueID, logger: logger)
    }

    /// The same, off the event loop: `room` is the writer's `reservedPrefix`.
    func finish(room: Int, queueID: String, logger: Logger) -> (prefix: [UInt8], log: (key: String, value: String)) {
        finish(room: room, queueID: queueID, logger: logger, results: nil, chain: nil)
    }

    /// The octets the fields will take, once the header section has been read.
    var plannedLength: Int? { signer?.plannedLength(time: time) }

    /// The fields alone (empty when the message goes unsigned), for a prefix made of more parts;
    /// `results`: what an ARC seal's AAR records.
    func fields(queueID: String, logger: Logger, results: String?, chain: ARCOutcome?) -> (fields: [UInt8], log: (key: String, value: String)) {
        let (prefix, log) = finish(room: 0, queueID: queueID, logger: logger, results: results, chain: chain)
        return (prefix, log)
    }

    private func finish(room: Int, queueID: String, logger: Logger, results: String?, chain: ARCOutcome?) -> (
        prefix: [UInt8], log: (key: String, value: String)
    ) {
        let key = isSeal ? "arc_sealed" : "dkim_signed"
        guard let signer else { return ([], (key, "none")) }
        self.signer = nil
        let signers = (try? signer.signers?.get()) ?? []
        switch signer.finish(time: time, results: results, chain: chain) {
        case .success(let fields) where room == 0 || fields.count == room:
            return (fields, (key, isSeal ? "sealed" : signers.map { "\($0.domain)/\($0.selector)" }.joined(separator: ",")))
        case .success:
            logger.error("\(key): the fields did not fit the room left for them; sent without", metadata: ["queue_id": .string(queueID)])
            return (MessageSigner.filler(octets: room), (key, "none (error)"))
        case .failure(let skip):
            if case .failed = skip {
                logger.error("\(key): not signed", metadata: ["queue_id": .string(queueID), "reason": .string(skip.description)])
            }
            return (room > 0 ? MessageSigner.filler(octets: room) : [], (key, "none (\(skip))"))
        }
    }
}
