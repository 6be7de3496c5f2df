#if canImport(Glibc)
import Glibc
#endif
import MailCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPNIO
import Storage

/// Reads a spooled message for sending, 64 KiB at a time on the thread pool.
final class SpoolMessageReader: OutgoingMessageReader {
    private let fd: Int32
    private let threadPool: NIOThreadPool
    private let offset = NIOLockedValueBox<Int64>(0)
    private let closed = NIOLockedValueBox(false)

    /// Octets of message in the file (the envelope follows them).
    private let size: Int64

    init(spool: Spool, envelope: Envelope, threadPool: NIOThreadPool) throws {
        fd = try spool.openMessage(envelope.id)
        size = Int64(envelope.size)
        self.threadPool = threadPool
    }

    func next(on eventLoop: EventLoop) -> EventLoopFuture<ByteBuffer?> {
        let fd = self.fd
        let offset = self.offset
        let size = self.size
        return threadPool.runIfActive(eventLoop: eventLoop) { () -> ByteBuffer? in
            var buffer = ByteBuffer()
            buffer.reserveCapacity(64 * 1024)
            let at = offset.withLockedValue { $0 }
            let wanted = Int(min(64 * 1024, size - at))
            guard wanted > 0 else { return nil }
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 * 1024) { raw -> Int in
                while true {
                    let got = pread(fd, raw.baseAddress, wanted, off_t(at))
                    if got >= 0 { return got }
                    if errno != EINTR { throw StorageError("pread", "spooled message") }
                }
            }
            offset.withLockedValue { $0 += Int64(n) }
            return n == 0 ? nil : buffer
        }
    }

    func close() {
        let wasClosed = closed.withLockedValue { c -> Bool in
            defer { c = true }
            return c
        }
        if !wasClosed { Glibc.close(fd) }
    }

    deinit { close() }
}

extension Spool {
    /// Keeps an attempt's dialogue with each of its messages (`postie trace`), off the caller's
    /// thread; a trace that cannot be written is only a lost trace.
    func keepTrace(of result: ClientResult, for ids: [String], at relay: String, threadPool: NIOThreadPool) async {
        let attempt = "\(MessageDate.iso8601(unixTime: Int64(Glibc.time(nil)))) to \(relay)\n"
            + result.transcript.rendered.joined(separator: "\n")
        _ = try? await threadPool.runIfActive { [self] in
            for id in ids { try? appendTrace(id, attempt: attempt) }
        }
    }
}
